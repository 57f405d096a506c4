//go:build unix

package sqlitestore

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes a lock on the file at path, creating it (0600) if
// missing: exclusive, or shared when shared is set. It fails at once,
// with ErrLocked, if another holder's lock conflicts. The lock lasts
// until the file is closed, or the process ends.
func lockFile(path string, shared bool) (*os.File, error) {
	f, err := openPrivateFile(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: lock file: %w", err)
	}
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held by another store (is another outpostd running on this database?)", ErrLocked, path)
		}
		return nil, fmt.Errorf("sqlitestore: lock %s: %w", path, err)
	}
	return f, nil
}
