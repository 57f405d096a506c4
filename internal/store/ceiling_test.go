package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// The ceiling the benchmarks measure against keeps the apply's guards: an
// older version does not overwrite a newer row, a tombstone keeps a
// removed message out, and a newer version lands.
func TestWriteCeiling_KeepsTheGuards(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "m1", "v5", 5))
	del := msgEvent(protocol.EventMessageDeleted, "team:a", "m2", "", 4)
	del.HardDelete = true
	apply(t, db, del)

	page := store.CeilingPage{Messages: []protocol.Message{
		*msgEvent(protocol.EventMessageNew, "team:a", "m1", "v3", 3).Message,
		*msgEvent(protocol.EventMessageNew, "team:a", "m2", "back", 2).Message,
		*msgEvent(protocol.EventMessageNew, "team:a", "m3", "new", 6).Message,
	}}
	for _, rows := range []int{1, 2, 64} {
		if err := db.WriteCeiling(ctx, page, rows); err != nil {
			t.Fatalf("rows %d: %v", rows, err)
		}
		if got := mustMessage(t, db, "m1"); got.Text != "v5" {
			t.Errorf("rows %d: an older version overwrote m1: text %q, want v5", rows, got.Text)
		}
		if _, err := db.Message(ctx, "m2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rows %d: a tombstoned message came back: %v", rows, err)
		}
		if got := mustMessage(t, db, "m3"); got.Text != "new" {
			t.Errorf("rows %d: m3 text %q, want new", rows, got.Text)
		}
	}
	if err := db.WriteCeiling(ctx, page, 0); err == nil {
		t.Error("WriteCeiling with 0 rows a statement: no error")
	}
}
