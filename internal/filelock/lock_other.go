//go:build !unix && !windows

package filelock

import "os"

// Supported says whether TryLock takes a lock on this platform: on this
// one it does not, and a second holder is not detected.
const Supported = false

func lock(f *os.File, shared bool) error { return nil }
