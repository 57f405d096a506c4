package store

import "github.com/jmoiron/sqlx"

// SQLX returns d's sqlx handle, for tests that read the store's tables.
func SQLX(d *DB) *sqlx.DB { return d.db }
