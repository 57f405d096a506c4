package sqlitestore

import (
	"errors"
	"fmt"
	"os"

	"github.com/outpostsync/outpost/internal/filelock"
)

// lockFile takes a lock on the file at path, creating it (0600) if
// missing: exclusive, or shared when shared is set. It fails at once,
// with ErrLocked, if another holder's lock conflicts. The lock lasts
// until the file is closed, or the process ends. It is flock on Unix and
// LockFileEx on Windows; on other platforms no lock is taken (see
// internal/filelock).
func lockFile(path string, shared bool) (*os.File, error) {
	f, err := openPrivateFile(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: lock file: %w", err)
	}
	err = filelock.Lock(f, shared)
	if err != nil {
		f.Close()
	}
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("%w: %s is held by another store (is another outpostd running on this database?)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: lock file: %w", err)
	}
	return f, nil
}
