//go:build !unix

package sysres

import "time"

// RaiseFileLimit does nothing on this platform: it has no per-process
// limit of open files to raise.
func RaiseFileLimit(n uint64) {}

// CPUTime returns zero on this platform: it is not measured.
func CPUTime() time.Duration { return 0 }
