package filelock

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked is returned by TryLock when another holder's lock conflicts.
var ErrLocked = errors.New("filelock: held by another")

// TryLock opens the file at path, creating it (mode 0600) if missing, and
// takes a lock on it without waiting: exclusive, or shared when shared is
// set. It returns an error wrapping ErrLocked when another holder's lock
// conflicts. Closing the returned file releases the lock.
func TryLock(path string, shared bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("filelock: %w", err)
	}
	if err := Lock(f, shared); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Lock is TryLock for a file already open, for a caller that opens it
// its own way.
func Lock(f *os.File, shared bool) error {
	if err := lock(f, shared); err != nil {
		if errors.Is(err, ErrLocked) {
			return fmt.Errorf("%w: %s", ErrLocked, f.Name())
		}
		return fmt.Errorf("filelock: lock %s: %w", f.Name(), err)
	}
	return nil
}
