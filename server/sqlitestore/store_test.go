package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
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

// TestTick: the stamps of one write move on with Tick, and the next write
// is stamped after the last of them.
func TestTick(t *testing.T) {
	ctx := context.Background()
	frozen := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"), func() time.Time { return frozen })
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var last time.Time
	_ = st.Update(ctx, func(tx server.Tx) error {
		first := tx.Now()
		tx.Tick()
		tx.Tick()
		if last = tx.Now(); last.Sub(first) != 2*time.Microsecond {
			t.Errorf("two ticks moved the stamp by %v", last.Sub(first))
		}
		return nil
	})
	_ = st.Update(ctx, func(tx server.Tx) error {
		if !tx.Now().After(last) {
			t.Errorf("next write stamped %v, not after %v", tx.Now(), last)
		}
		return nil
	})
}
