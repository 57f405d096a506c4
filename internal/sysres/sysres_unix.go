//go:build unix

package sysres

import (
	"syscall"
	"time"
)

// RaiseFileLimit raises the soft limit of open files to n (at most the
// hard limit) if it is lower. Failures are ignored: the caller runs with
// the limit it has.
func RaiseFileLimit(n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < n {
		lim.Cur = min(lim.Max, n)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// CPUTime returns the CPU time, user and system, this process has used;
// zero if it cannot be read.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
