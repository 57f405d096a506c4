// Package sqlitestore is the server's embedded Store on SQLite
// (modernc.org/sqlite, no cgo).
//
// SQLite has one writer at a time: each Update is an IMMEDIATE
// transaction, so a log's counter is locked from NextPosition to the
// commit, as the server.Store contract asks. Reads are snapshots (WAL)
// that never wait for writes.
//
// Open takes an exclusive lock on a file beside the database, so that a
// second server on the same file is refused at start rather than both
// serving clients that each hear only their own node's live events.
// OpenShared lets several Store instances share one file, for tests that
// play several nodes. The lock is flock on Unix and LockFileEx on
// Windows; on other platforms it is not checked (see internal/filelock).
package sqlitestore
