// Package sysres reads and raises the process's own resources, for the
// benchmarks: its limit of open files (they hold thousands of
// connections) and the CPU time it used. Each platform has a file of its
// own: sysres_unix.go uses RLIMIT_NOFILE and getrusage; sysres_other.go
// (Windows and the rest) raises nothing, since Windows has no such
// per-process limit on sockets, and reports no CPU time (zero).
package sysres
