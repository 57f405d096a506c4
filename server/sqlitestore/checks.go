package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jmoiron/sqlx"
)

// ErrNotServerDB is returned by Open for a database file that holds
// tables but not the server's schema: an app's or a client's (offlinedb)
// database passed by mistake. Open changes nothing in it.
var ErrNotServerDB = errors.New("sqlitestore: not an Outpost server database")

// checkFolder reports a missing or unusable folder for path in words,
// instead of SQLite's "unable to open database file".
func checkFolder(path string) error {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("sqlitestore: open %s: the folder %s does not exist: create it first", path, dir)
	case err != nil:
		return fmt.Errorf("sqlitestore: open %s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("sqlitestore: open %s: %s is not a folder", path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("sqlitestore: open %s: it is a folder, not a database file", path)
	}
	return nil
}

// checkServerDB refuses a database with tables but no server schema.
func checkServerDB(ctx context.Context, db *sqlx.DB, path string) error {
	var tables []string
	if err := db.SelectContext(ctx, &tables,
		`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`); err != nil {
		return fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	if len(tables) == 0 {
		return nil // new
	}
	var sets []string
	for _, t := range tables {
		if t == "outpost_migrations" {
			if err := db.SelectContext(ctx, &sets, `SELECT DISTINCT set_name FROM outpost_migrations ORDER BY set_name`); err != nil {
				return fmt.Errorf("sqlitestore: open %s: %w", path, err)
			}
		}
	}
	for _, s := range sets {
		if s == schemaSet {
			return nil
		}
	}
	if len(sets) > 0 {
		return fmt.Errorf("%w: %s holds the schema %s (a client's offlinedb file?); give outpostd a file of its own",
			ErrNotServerDB, path, strings.Join(sets, ", "))
	}
	return fmt.Errorf("%w: %s holds other tables (%s); give outpostd a file of its own",
		ErrNotServerDB, path, strings.Join(tables, ", "))
}
