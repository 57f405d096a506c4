//go:build unix

package sysres

import (
	"syscall"
	"time"
)

// RaiseFileLimit raises the soft limit of open files to n (at most the
// hard limit) if it is lower, and returns the limit then in force (0 if
// it cannot be read). A failure to raise it is not an error: the caller
// runs with the limit it has, and may compare it with what it needs.
func RaiseFileLimit(n uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < n {
		lim.Cur = min(lim.Max, n)
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	return uint64(lim.Cur)
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
