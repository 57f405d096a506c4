package store

import "github.com/jmoiron/sqlx"

// SQLX returns d's sqlx handle, for tests that read the store's tables.
func SQLX(d *DB) *sqlx.DB { return d.db }

// LastSyncedAtQuery is lastSyncedAtQuery, for tests that run it with
// queries of their own.
var LastSyncedAtQuery = lastSyncedAtQuery
