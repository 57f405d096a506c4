//go:build unix

package filelock

import (
	"errors"
	"os"
	"syscall"
)

// Supported says whether TryLock takes a lock on this platform.
const Supported = true

// lock takes flock(2) on f without blocking; it fails with ErrLocked
// when a conflicting lock is held (through another open of the file, in
// this process or another).
func lock(f *os.File, shared bool) error {
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrLocked
		}
		return err
	}
}
