package sqlitestore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/server/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestUpdate_PanicReleasesTheWriteLock: a write that panics (the server
// recovers handler panics) rolls back, so the next write is not stuck
// behind a transaction nobody will finish.
func TestUpdate_PanicReleasesTheWriteLock(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		_ = st.Update(ctx, func(tx server.Tx) error {
			if err := tx.PutUser(protocol.User{ID: "ghost", Version: 1}); err != nil {
				return err
			}
			panic("handler bug")
		})
	}()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := st.Update(wctx, func(tx server.Tx) error {
		return tx.PutUser(protocol.User{ID: "alice", Version: 1})
	}); err != nil {
		t.Fatalf("write after a panicked one: %v", err)
	}
	err = st.View(ctx, func(tx server.Tx) error {
		if _, err := tx.User("ghost"); err != server.ErrNotFound {
			t.Errorf("the panicked write's row: %v, want ErrNotFound", err)
		}
		_, err := tx.User("alice")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpen_SecondStoreIsRefused: a second Open of one database fails
// with ErrLocked (a second outpostd would serve clients that hear only its
// own node's live events); shared opens coexist but exclude Open; closing
// releases the lock.
func TestOpen_SecondStoreIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	first, err := sqlitestore.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlitestore.Open(ctx, path, nil); !errors.Is(err, sqlitestore.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if _, err := sqlitestore.OpenShared(ctx, path, nil); !errors.Is(err, sqlitestore.ErrLocked) {
		t.Fatalf("OpenShared beside Open: %v, want ErrLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := sqlitestore.OpenShared(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlitestore.OpenShared(ctx, path, nil)
	if err != nil {
		t.Fatalf("two shared opens: %v", err)
	}
	defer b.Close()
	if _, err := sqlitestore.Open(ctx, path, nil); !errors.Is(err, sqlitestore.ErrLocked) {
		t.Fatalf("Open beside shared opens: %v, want ErrLocked", err)
	}
}

// harness opens SQLite stores for the conformance suite; a second
// instance shares the file, as a second node would.
type harness struct{}

func (harness) Open(t *testing.T) server.Store {
	st, err := sqlitestore.OpenShared(context.Background(), filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func (harness) OpenAgain(t *testing.T, st server.Store) server.Store {
	again, err := sqlitestore.OpenShared(context.Background(), st.(*sqlitestore.Store).Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	return again
}

func TestConformance(t *testing.T) { storetest.Run(t, harness{}) }
