// Package migrations applies versioned SQL migrations to a SQLite database.
//
// A Set is a named, ordered list of migrations, usually loaded from SQL files
// embedded with embed.FS and named NNNN_description.sql. Apply runs the ones
// a database has not seen yet, in order, each in its own write transaction,
// and records them in the outpost_migrations table under the set's name, so
// the SDK's own set (Local) and an app's sets for its own tables live side by
// side in one file.
//
// Apply is safe to call on every open and from several processes on the same
// file at once: each migration runs in a BEGIN IMMEDIATE transaction that
// checks again, under the write lock, whether another process applied it
// first. A database whose recorded version of a set is newer than the set
// the code knows is refused with a *NewerSchemaError and left untouched, and
// a migration whose SQL changed after it was applied is refused with a
// *ChecksumError.
//
// Migrations only add: the SDK's own set never drops a table or column that
// holds user data, and an upgrade keeps every row.
package migrations
