package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

func TestOpen_ClearErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	_, err := sqlitestore.Open(ctx, filepath.Join(dir, "missing", "server.db"), nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist: create it first") {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := sqlitestore.Open(ctx, dir, nil); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("a folder as the file: %v", err)
	}

	client := filepath.Join(dir, "client.db")
	cdb, err := store.Open(ctx, client, offlinedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cdb.Close()
	_, err = sqlitestore.Open(ctx, client, nil)
	if !errors.Is(err, sqlitestore.ErrNotServerDB) || !strings.Contains(err.Error(), "offlinedb") {
		t.Errorf("client database: %v", err)
	}

	app := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", app)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlitestore.Open(ctx, app, nil); !errors.Is(err, sqlitestore.ErrNotServerDB) || !strings.Contains(err.Error(), "notes") {
		t.Errorf("app database: %v", err)
	}

	// A server database opens again.
	path := filepath.Join(dir, "server.db")
	for range 2 {
		s, err := sqlitestore.Open(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}
