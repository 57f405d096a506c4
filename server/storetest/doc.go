// Package storetest is the conformance suite of server.Store: every store
// (the embedded SQLite one, Postgres) runs Run from its own tests.
//
// The suite checks what the server and its clients rely on: each log's
// seqs are gap-free and become visible in seq order, even with many
// writers in several store instances on one database, so a reader that
// continues from a seq it read never skips or repeats an event; pruning
// cuts a prefix and records where; each channel creation begins a new
// epoch; each log's counter holds its head, the last seq with the id of
// the event there; membership feeds are logs of the same kind;
// idempotency keys are per user; a member's hidden flag is theirs alone,
// kept across membership updates and dropped with the membership.
package storetest
