// Package pgstore is the server's Store on PostgreSQL
// (github.com/jackc/pgx/v5), for several outpostd nodes on one database.
//
// Each Update is a READ COMMITTED transaction, run again if Postgres
// aborts it to break a deadlock (see Store.Update). A log's next seq is taken
// from its counter row with UPDATE ... SET last_seq = last_seq + 1 ...
// RETURNING (NextPosition, NextFeedPosition): the row lock is held to the
// commit, so a channel's writers, on any node, commit one after another
// in seq order, and a rollback gives its seq back. Each View is a
// REPEATABLE READ READ ONLY snapshot, which holds a prefix of every log.
//
// The schema is in versioned migrations (schema/), applied by Open under
// an advisory lock, so several nodes may start at once. Prune runs on one
// node at a time (another advisory lock); the others return at once.
//
// Every event row keeps the id of the transaction that wrote it (an xid8
// column defaulting to pg_current_xact_id()) and the node that wrote it:
// Follow reports the events other nodes commit, for the server's cluster
// broker (follow.go; docs/ARCHITECTURE.md has the argument).
//
// Errors that mean the database cannot be reached, or that the same
// request may succeed later (a restart, a lost connection, a
// serialization failure), wrap server.ErrStoreUnavailable, which the
// server answers with a temporary error that clients retry.
//
// A Store is safe for concurrent use.
package pgstore
