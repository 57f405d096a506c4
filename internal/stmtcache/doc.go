// Package stmtcache keeps one prepared statement per SQL text on a
// database, so that transactions reuse the statement each connection has
// already parsed instead of parsing the SQL again on every call. With the
// pure-Go SQLite, parsing a short statement costs more than running it:
// profiles of the sync server and of live-event apply put a third of all
// CPU time in the SQL parser before this cache.
package stmtcache
