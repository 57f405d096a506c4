// Package filelock takes advisory locks on files: an exclusive lock one
// holder at a time, or shared locks any number of holders at once. A lock
// lasts until its file is closed or its process ends, whatever the way:
// the kernel releases it, so a holder that crashed or was killed never
// leaves a lock behind, and no heartbeat or clock is involved.
//
// Each platform has a file of its own:
//
//   - lock_unix.go (Linux, macOS, the BSDs): flock(2). Locks belong to the
//     open file, so two opens of one file in one process conflict like two
//     processes do. On network file systems flock may be emulated or
//     local to one machine.
//   - lock_windows.go: LockFileEx on the file's first byte. Windows
//     releases it when the handle is closed or the process ends.
//   - lock_other.go (every other GOOS, such as wasip1 or plan9): no lock
//     is taken; Supported is false and TryLock always succeeds, so a
//     second holder is not detected.
//
// The locks are advisory: they keep out only the holders that ask for one.
package filelock
