package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func openTestDB(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "local.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Bind(context.Background(), testUser, false); err != nil {
		tb.Fatal(err)
	}
	return db
}

// testUser is the user openTestDB binds its store to.
const testUser = "bob"

// at returns t0 plus n seconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func msgEvent(typ protocol.EventType, cid, id, text string, seq int64) *protocol.Event {
	return &protocol.Event{
		ID: fmt.Sprintf("ev-%s-%d", id, seq), Type: typ, CID: cid, Seq: seq, CreatedAt: at(int(seq)),
		Message: &protocol.Message{ID: id, CID: cid, UserID: "alice", Text: text,
			CreatedAt: at(1), UpdatedAt: at(int(seq)), Version: seq},
	}
}

func apply(tb testing.TB, db *store.DB, evs ...*protocol.Event) {
	tb.Helper()
	ctx := context.Background()
	var qs []store.Query
	for _, ev := range evs {
		q, err := db.EventQueries(ev)
		if err != nil {
			tb.Fatalf("EventQueries(%s %s): %v", ev.Type, ev.ID, err)
		}
		qs = append(qs, q...)
	}
	skipped, err := db.ExecQueries(ctx, qs)
	if err != nil {
		tb.Fatalf("ExecQueries: %v", err)
	}
	if len(skipped) > 0 {
		tb.Fatalf("ExecQueries skipped %d events: %v", len(skipped), skipped[0])
	}
}

func mustMessage(tb testing.TB, db *store.DB, id string) store.Message {
	tb.Helper()
	m, err := db.Message(context.Background(), id)
	if err != nil {
		tb.Fatalf("Message(%q): %v", id, err)
	}
	return m
}
