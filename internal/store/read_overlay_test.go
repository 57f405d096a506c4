package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

func readEvent(id, cid, user, msgID string, version int64) *protocol.Event {
	return &protocol.Event{ID: id, Type: protocol.EventMessageRead, CID: cid, Seq: version, CreatedAt: at(int(version)),
		Read: &protocol.Read{CID: cid, UserID: user, LastReadAt: at(int(version)), LastReadMessageID: msgID, Version: version}}
}

func readOf(tb testing.TB, db *store.DB, cid, user string) protocol.Read {
	tb.Helper()
	reads, err := db.Reads(context.Background(), cid)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range reads {
		if r.UserID == user {
			return r
		}
	}
	return protocol.Read{}
}

// TestMarkRead_PendingMarkIsOverlaid: a read mark made offline and not
// sent yet is overlaid as every other pending write: server data applied
// meanwhile (a newer mark from another device) does not overwrite it, and
// reads show it; when the server refuses it, the read is the server's
// again. A channel with no read of the user yet shows the pending mark
// too.
func TestMarkRead_PendingMarkIsOverlaid(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	apply(t, db,
		readEvent("e1", "team:a", "bob", "m1", 2),
		msgEvent(protocol.EventMessageNew, "team:b", "b1", "hi", 1))

	mark, err := store.NewMarkReadTask("bob", "team:a", protocol.MarkReadRequest{MessageID: "m5"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddPendingTask(ctx, mark); err != nil {
		t.Fatal(err)
	}
	markB, err := store.NewMarkReadTask("bob", "team:b", protocol.MarkReadRequest{MessageID: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddPendingTask(ctx, markB); err != nil {
		t.Fatal(err)
	}
	if r := readOf(t, db, "team:a", "bob"); r.LastReadMessageID != "m5" {
		t.Fatalf("after the mark: read at %q, want m5", r.LastReadMessageID)
	}
	if r := readOf(t, db, "team:b", "bob"); r.LastReadMessageID != "b1" {
		t.Fatalf("team:b, which had no read: read at %q, want the pending b1", r.LastReadMessageID)
	}

	// Another device's mark arrives by sync while this one waits.
	apply(t, db, readEvent("e2", "team:a", "bob", "m3", 7))
	if r := readOf(t, db, "team:a", "bob"); r.LastReadMessageID != "m5" {
		t.Fatalf("after a sync: read at %q, want the pending m5", r.LastReadMessageID)
	}

	// Refused: the server's read shows again.
	if err := db.MoveToFailed(ctx, mark.ID, errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	if r := readOf(t, db, "team:a", "bob"); r.LastReadMessageID != "m3" || r.Version != 7 {
		t.Fatalf("after the refusal: read at %q version %d, want the server's m3 at 7", r.LastReadMessageID, r.Version)
	}
	if err := db.MoveToFailed(ctx, markB.ID, errors.New("refused")); err != nil {
		t.Fatal(err)
	}
	if r := readOf(t, db, "team:b", "bob"); r.LastReadMessageID != "" {
		t.Fatalf("team:b after the refusal: read at %q, want none", r.LastReadMessageID)
	}
}
