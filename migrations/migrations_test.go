package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/outpostsync/outpost/migrations"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func tempDB(tb testing.TB) (*sql.DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.db")
	return openDB(tb, path), path
}

func appSet(tb testing.TB, files map[string]string) migrations.Set {
	tb.Helper()
	fsys := fstest.MapFS{}
	for name, sqlText := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(sqlText)}
	}
	s, err := migrations.Load("app", fsys)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func tableExists(tb testing.TB, db *sql.DB, name string) bool {
	tb.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?`, name).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n == 1
}

func TestLocal_AppliesAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	local := migrations.Local()
	if local.Latest() < 1 {
		t.Fatalf("Local().Latest() = %d, want >= 1", local.Latest())
	}
	for i := 0; i < 3; i++ {
		if err := migrations.Apply(ctx, db, local); err != nil {
			t.Fatalf("Apply #%d: %v", i+1, err)
		}
	}
	got, err := migrations.Version(ctx, db, local.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got != local.Latest() {
		t.Errorf("Version = %d, want %d", got, local.Latest())
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM outpost_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != local.Latest() {
		t.Errorf("recorded migrations = %d, want %d (each once)", rows, local.Latest())
	}
	for _, table := range []string{"channels", "messages", "reactions", "members", "reads", "users",
		"pending_tasks", "failed_tasks", "user_sync_status", "tombstones"} {
		if !tableExists(t, db, table) {
			t.Errorf("table %s missing after Apply", table)
		}
	}
}

func TestApply_AppSetBesideLocal(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	app := appSet(t, map[string]string{
		"0001_notes.sql": `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);`,
		"0002_tags.sql":  `ALTER TABLE notes ADD COLUMN tag TEXT NOT NULL DEFAULT '';`,
		"README.md":      "ignored",
	})
	if err := migrations.Apply(ctx, db, migrations.Local(), app); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO notes (body, tag) VALUES ('hi', 'x')`); err != nil {
		t.Fatalf("app table not usable: %v", err)
	}
	v, _ := migrations.Version(ctx, db, "app")
	if v != 2 {
		t.Errorf("app version = %d, want 2", v)
	}
	lv, _ := migrations.Version(ctx, db, migrations.Local().Name)
	if lv != migrations.Local().Latest() {
		t.Errorf("local version = %d, want %d", lv, migrations.Local().Latest())
	}
}

func TestApply_UpgradeKeepsData(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	v1 := map[string]string{"0001_notes.sql": `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);`}
	if err := migrations.Apply(ctx, db, appSet(t, v1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO notes (body) VALUES ('keep me')`); err != nil {
		t.Fatal(err)
	}
	v2 := map[string]string{
		"0001_notes.sql": v1["0001_notes.sql"],
		"0002_tag.sql":   `ALTER TABLE notes ADD COLUMN tag TEXT NOT NULL DEFAULT 'none';`,
	}
	if err := migrations.Apply(ctx, db, appSet(t, v2)); err != nil {
		t.Fatal(err)
	}
	var body, tag string
	if err := db.QueryRow(`SELECT body, tag FROM notes`).Scan(&body, &tag); err != nil {
		t.Fatal(err)
	}
	if body != "keep me" || tag != "none" {
		t.Errorf("row after upgrade = (%q, %q), want (keep me, none)", body, tag)
	}
}

func TestApply_RefusesNewerSchemaUntouched(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	newer := appSet(t, map[string]string{
		"0001_a.sql": `CREATE TABLE a (x INTEGER);`,
		"0002_b.sql": `CREATE TABLE b (x INTEGER);`,
	})
	if err := migrations.Apply(ctx, db, newer); err != nil {
		t.Fatal(err)
	}
	older := appSet(t, map[string]string{"0001_a.sql": `CREATE TABLE a (x INTEGER);`})
	// The local set comes first: it must not be applied either when a later
	// set is refused.
	err := migrations.Apply(ctx, db, migrations.Local(), older)
	var ns *migrations.NewerSchemaError
	if !errors.As(err, &ns) || !errors.Is(err, migrations.ErrNewerSchema) {
		t.Fatalf("Apply = %v, want *NewerSchemaError", err)
	}
	if ns.DBVersion != 2 || ns.Known != 1 || ns.Set != "app" {
		t.Errorf("error = %+v, want set app, db 2, known 1", ns)
	}
	if tableExists(t, db, "channels") {
		t.Error("the local set was applied to a database that was refused")
	}
}

func TestApply_RefusesChangedMigration(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	if err := migrations.Apply(ctx, db, appSet(t, map[string]string{"0001_a.sql": `CREATE TABLE a (x INTEGER);`})); err != nil {
		t.Fatal(err)
	}
	err := migrations.Apply(ctx, db, appSet(t, map[string]string{"0001_a.sql": `CREATE TABLE a (x TEXT);`}))
	var ce *migrations.ChecksumError
	if !errors.As(err, &ce) || ce.Version != 1 {
		t.Fatalf("Apply = %v, want *ChecksumError for version 1", err)
	}
}

func TestApply_FailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	db, _ := tempDB(t)
	bad := appSet(t, map[string]string{
		"0001_ok.sql":  `CREATE TABLE ok (x INTEGER);`,
		"0002_bad.sql": `CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);`,
	})
	if err := migrations.Apply(ctx, db, bad); err == nil {
		t.Fatal("Apply of a broken migration succeeded")
	}
	if tableExists(t, db, "half") {
		t.Error("a failed migration left part of its work behind")
	}
	if v, _ := migrations.Version(ctx, db, "app"); v != 1 {
		t.Errorf("version = %d, want 1 (the good migration only)", v)
	}
}

func TestLoad_RejectsBadSets(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"gap":       {"0001_a.sql": {Data: []byte("SELECT 1;")}, "0003_c.sql": {Data: []byte("SELECT 1;")}},
		"duplicate": {"0001_a.sql": {Data: []byte("SELECT 1;")}, "001_b.sql": {Data: []byte("SELECT 1;")}},
		"bad name":  {"first.sql": {Data: []byte("SELECT 1;")}},
		"empty sql": {"0001_a.sql": {Data: []byte("  ")}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := migrations.Load("app", files); !errors.Is(err, migrations.ErrBadSet) {
				t.Errorf("Load = %v, want ErrBadSet", err)
			}
		})
	}
}

// TestApply_ConcurrentOpeners runs Apply from several independent pools on
// one file at once, as two processes opening the same store would: all
// succeed and every migration is applied exactly once.
func TestApply_ConcurrentOpeners(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	app := appSet(t, map[string]string{
		"0001_counter.sql": `CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0);`,
		"0002_bump.sql":    `UPDATE counter SET n = n + 1;`,
	})
	const openers = 4
	var wg sync.WaitGroup
	errs := make(chan error, openers)
	for i := 0; i < openers; i++ {
		db := openDB(t, path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- migrations.Apply(ctx, db, migrations.Local(), app)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Apply: %v", err)
		}
	}
	db := openDB(t, path)
	var n int
	if err := db.QueryRow(`SELECT n FROM counter`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("counter = %d, want 1: a migration ran more than once", n)
	}
}
