//go:build !unix

package sysres

import (
	"math"
	"time"
)

// RaiseFileLimit does nothing on this platform: it has no per-process
// limit of open files to raise. It returns the largest limit.
func RaiseFileLimit(n uint64) uint64 { return math.MaxUint64 }

// CPUTime returns zero on this platform: it is not measured.
func CPUTime() time.Duration { return 0 }
