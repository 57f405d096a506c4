package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/migrations"
	"github.com/outpostsync/outpost/protocol"
)

func TestOpen_PragmasAndFileMode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "local.db")
	db, err := store.Open(ctx, path, store.Options{BusyTimeout: 1234 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// temp_store 2 is memory, where merged statements keep their
	// statement journals.
	for pragma, want := range map[string]string{"journal_mode": "wal", "busy_timeout": "1234", "foreign_keys": "1",
		"temp_store": "2"} {
		var got string
		if err := store.SQLX(db).Get(&got, "PRAGMA "+pragma); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
	// A write makes the WAL and shared-memory files.
	if err := db.ApplyEvent(ctx, msgEvent(protocol.EventMessageNew, "team:a", "m1", "x", 1)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or world access", filepath.Base(f), perm)
		}
	}
}

func TestOpen_RefusesAFileThatIsNotAStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"text":    []byte("these are my notes, not a database\n"),
		"corrupt": append([]byte("SQLite format 3\x00"), bytes.Repeat([]byte{0xde, 0xad}, 4096)...),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := store.Open(ctx, path, store.Options{})
			var oe *store.OpenError
			if !errors.Is(err, store.ErrNotDatabase) || !errors.As(err, &oe) {
				t.Fatalf("Open = %v, want an *OpenError wrapping ErrNotDatabase", err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
				t.Error("the refused file was changed")
			}

			// With MoveAside, the file is kept aside and a fresh store opens.
			db, err := store.Open(ctx, path, store.Options{MoveAside: true})
			if err != nil {
				t.Fatalf("Open with MoveAside = %v", err)
			}
			defer db.Close()
			moved, _ := filepath.Glob(path + ".corrupt-*")
			if len(moved) != 1 {
				t.Fatalf("moved-aside files = %v", moved)
			}
			if got, _ := os.ReadFile(moved[0]); !bytes.Equal(got, content) {
				t.Error("the moved-aside file lost its bytes")
			}
			if err := db.ApplyEvent(ctx, msgEvent(protocol.EventMessageNew, "team:a", "m1", "x", 1)); err != nil {
				t.Errorf("the fresh store does not work: %v", err)
			}
		})
	}
}

func TestOpen_RefusesANewerSchemaUntouched(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "local.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO outpost_migrations (set_name, version, name, checksum, applied_at) VALUES (?, ?, 'future', 'x', 0)`,
		migrations.Local().Name, migrations.Local().Latest()+1); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before, _ := os.ReadFile(path)
	_, err = store.Open(ctx, path, store.Options{})
	if !errors.Is(err, migrations.ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	if errors.Is(err, store.ErrNotDatabase) {
		t.Error("a newer store must not be called corrupt (MoveAside would discard it)")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the newer store was changed")
	}
}

func TestOpen_AppMigrationsAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "local.db")
	app, err := migrations.Load("myapp", fstest.MapFS{"0001_notes.sql": {Data: []byte(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);`)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		db, err := store.Open(ctx, path, store.Options{Migrations: []migrations.Set{app}})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			store.SQLX(db).MustExec(`INSERT INTO notes (body) VALUES ('kept')`)
		} else {
			var body string
			if err := store.SQLX(db).Get(&body, `SELECT body FROM notes`); err != nil || body != "kept" {
				t.Errorf("after reopen: %q, %v", body, err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if _, err := db.SyncPositions(ctx); !errors.Is(err, store.ErrClosed) {
			t.Errorf("call after Close = %v, want ErrClosed", err)
		}
	}
	if _, err := store.Open(ctx, filepath.Join(t.TempDir(), "missing", "dir", "x.db"), store.Options{}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// TestResetDB_KeepsUnsentWork: a reset clears cached server data and the
// checkpoint, and keeps the outbox, the failed list, their rows and the
// local user.
func TestResetDB_KeepsUnsentWork(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "server-msg", "cached", 1))
	if err := db.SetLastSyncedAt(ctx, at(5)); err != nil {
		t.Fatal(err)
	}
	if err := db.Bind(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p1", "p2", "f1"} {
		task, _ := store.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: id, Text: id})
		if _, err := db.AddPendingTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.MoveToFailed(ctx, "f1", protocol.NewAPIError(protocol.CodeInput, "bad")); err != nil {
		t.Fatal(err)
	}

	if err := db.ResetDB(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Message(ctx, "server-msg"); !errors.Is(err, store.ErrNotFound) {
		t.Error("cached server data survived the reset")
	}
	if _, ok, _ := db.LastSyncedAt(ctx); ok {
		t.Error("the checkpoint survived the reset")
	}
	if pos, _ := db.SyncPositions(ctx); len(pos.Channels) != 0 {
		t.Errorf("channels after reset = %v", pos.Channels)
	}
	if pos, _ := db.SyncPositions(ctx); pos.Feed != nil {
		t.Errorf("feed position after reset = %+v, want none", pos.Feed)
	}
	pending, _ := db.PendingTasks(ctx)
	if len(pending) != 2 || pending[0].ID != "p1" || pending[1].ID != "p2" {
		t.Errorf("pending after reset = %+v, want p1, p2 in order", pending)
	}
	if failed, _ := db.FailedTasks(ctx); len(failed) != 1 || failed[0].ID != "f1" {
		t.Errorf("failed after reset = %+v", failed)
	}
	unsent, _ := db.UnsentMessages(ctx, "")
	if len(unsent) != 3 {
		t.Errorf("unsent rows after reset = %d, want 3 (two pending, one failed)", len(unsent))
	}
	if user, ok, _ := db.Identity(ctx); !ok || user != "bob" {
		t.Errorf("identity after reset = %q, %v; want bob", user, ok)
	}
}

func TestPendingTasks_FIFOAcrossTypes(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "sent", "x", 1))
	mk := []func() (store.PendingTask, error){
		func() (store.PendingTask, error) {
			return store.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: "new", Text: "x"})
		},
		func() (store.PendingTask, error) {
			return store.NewSendReactionTask("bob", "team:a", "sent", protocol.SendReactionRequest{Type: "like"})
		},
		func() (store.PendingTask, error) {
			return store.NewUpdateMessageTask("bob", "team:a", "sent", protocol.UpdateMessageRequest{Text: "y"})
		},
		func() (store.PendingTask, error) {
			return store.NewMarkReadTask("bob", "team:a", protocol.MarkReadRequest{})
		},
		func() (store.PendingTask, error) {
			return store.NewDeleteMessageTask("bob", "team:a", "sent", false)
		},
	}
	var want []string
	for _, f := range mk {
		task, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddPendingTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		want = append(want, task.ID)
	}
	other, _ := store.NewSendMessageTask("carol", "team:a", protocol.MessageInput{ID: "carols", Text: "x"})
	if _, err := db.AddPendingTask(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := db.PendingTasks(ctx)
	if err != nil || len(got) != len(want) {
		t.Fatalf("PendingTasks = %d tasks, %v; want %d", len(got), err, len(want))
	}
	for i := range want {
		if got[i].ID != want[i] {
			t.Errorf("task %d = %s, want %s", i, got[i].ID, want[i])
		}
	}
	if m, _ := db.Message(ctx, "sent"); m.Text != "y" || m.DeletedAt == nil || m.Status != store.StatusPending {
		t.Errorf("optimistic row = %+v, want edited, deleted and pending", m)
	}
	if _, err := db.AddPendingTask(ctx, store.PendingTask{ID: "x", UserID: "bob", Type: "launch-rocket", CID: "team:a", Payload: []byte(`{}`)}); !errors.Is(err, store.ErrInvalidTask) {
		t.Errorf("unknown task type = %v, want ErrInvalidTask", err)
	}
}

// TestOpen_ConcurrentOpenersOfANewFile: several openers of one new file at
// once (as two processes starting together) all get a working store.
func TestOpen_ConcurrentOpenersOfANewFile(t *testing.T) {
	for trial := 0; trial < 5; trial++ {
		path := filepath.Join(t.TempDir(), "shared.db")
		errs := make(chan error, 4)
		dbs := make(chan *store.DB, 4)
		for i := 0; i < 4; i++ {
			go func() {
				db, err := store.Open(context.Background(), path, store.Options{})
				errs <- err
				dbs <- db
			}()
		}
		for i := 0; i < 4; i++ {
			if err := <-errs; err != nil {
				t.Errorf("trial %d: Open: %v", trial, err)
			}
			if db := <-dbs; db != nil {
				db.Close()
			}
		}
	}
}

func TestOpen_NilLoggerWritesNothing(t *testing.T) {
	logged := logtest.Capture(t)
	path := filepath.Join(t.TempDir(), "notes.db")
	if err := os.WriteFile(path, []byte("not a database\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Moving the file aside is logged, but not with a nil Logger.
	db, err := store.Open(context.Background(), path, store.Options{MoveAside: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got := logged(); got != "" {
		t.Errorf("a nil Logger wrote to slog's default logger:\n%s", got)
	}
}

// TestBind_ScopesTheUsersData: the methods on the user's own data act for
// the bound user: before any Bind they refuse with ErrNotBound, and a
// store bound by an earlier run is bound again when it opens.
func TestBind_ScopesTheUsersData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "local.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PendingTasks(ctx); !errors.Is(err, store.ErrNotBound) {
		t.Errorf("PendingTasks before Bind = %v, want ErrNotBound", err)
	}
	if _, err := db.SyncPositions(ctx); !errors.Is(err, store.ErrNotBound) {
		t.Errorf("SyncPositions before Bind = %v, want ErrNotBound", err)
	}
	if err := db.Bind(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	task, _ := store.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: "m1", Text: "hi"})
	if _, err := db.AddPendingTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if pending, err := db.PendingTasks(ctx); err != nil || len(pending) != 1 || pending[0].ID != "m1" {
		t.Errorf("PendingTasks after reopen = %+v, %v; want bob's m1", pending, err)
	}
	if pending, failed, err := db.TaskCounts(ctx); err != nil || pending != 1 || failed != 0 {
		t.Errorf("TaskCounts after reopen = %d, %d, %v; want 1, 0", pending, failed, err)
	}
	if err := db.Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PendingTasks(ctx); !errors.Is(err, store.ErrNotBound) {
		t.Errorf("PendingTasks after Wipe = %v, want ErrNotBound", err)
	}
}
