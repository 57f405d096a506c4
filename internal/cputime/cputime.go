// Package cputime reads the CPU time this process has used, for
// benchmarks: on a shared machine it scatters less than wall-clock rates.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the CPU time, user and system, this process has used;
// 0 if the system does not say.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
