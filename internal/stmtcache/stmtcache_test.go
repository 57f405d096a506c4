package stmtcache

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"
)

func TestCache(t *testing.T) {
	ctx := context.Background()
	db, err := sqlx.Open("sqlite", filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	c := New(db, 2)
	run := func(fn func(tx *Tx) error) {
		t.Helper()
		sqlTx, err := db.Beginx()
		if err != nil {
			t.Fatal(err)
		}
		if err := fn(c.Tx(sqlTx)); err != nil {
			sqlTx.Rollback()
			t.Fatal(err)
		}
		if err := sqlTx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	const ins = `INSERT INTO kv (k, v) VALUES (?, ?)`
	for i := range 3 {
		run(func(tx *Tx) error {
			if err := tx.Exec(ctx, ins, string(rune('a'+i)), i); err != nil {
				return err
			}
			var v int
			if err := tx.Get(ctx, &v, `SELECT v FROM kv WHERE k = ?`, string(rune('a'+i))); err != nil || v != i {
				t.Errorf("get = %d, %v", v, err)
			}
			// Over the bound: prepared for this transaction only.
			var ks []string
			if err := tx.Select(ctx, &ks, `SELECT k FROM kv ORDER BY k`); err != nil || len(ks) != i+1 {
				t.Errorf("select = %v, %v", ks, err)
			}
			return nil
		})
	}
	if n := len(c.stmts); n != 2 {
		t.Errorf("cache holds %d statements, want the bound, 2", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed: still works, preparing per transaction.
	run(func(tx *Tx) error { return tx.Exec(ctx, ins, "z", 9) })
	if len(c.stmts) != 0 {
		t.Errorf("closed cache holds %d statements", len(c.stmts))
	}
	run(func(tx *Tx) error {
		if err := tx.Exec(ctx, `NOT SQL`); err == nil {
			t.Error("bad SQL gave no error")
		}
		return nil
	})
}
