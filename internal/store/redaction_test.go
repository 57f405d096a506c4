package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// redacted returns ev as the server's log keeps it once its message is
// removed.
func redacted(ev *protocol.Event) *protocol.Event {
	r := ev.Redact()
	return &r
}

func messageGone(t *testing.T, db *store.DB, id, after string) {
	t.Helper()
	if m, err := db.Message(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: message %s = %+v, %v, want ErrNotFound", after, id, m, err)
	}
}

// TestApplyEvent_Redacted: a redacted event never shows its message: it
// makes none, removes one held, keeps a late original out, and applies
// the same twice, in any order, to the same end.
func TestApplyEvent_Redacted(t *testing.T) {
	newEv := msgEvent(protocol.EventMessageNew, "team:a", "m1", "secret", 2)
	upd := msgEvent(protocol.EventMessageUpdated, "team:a", "m1", "secret edited", 3)
	react := &protocol.Event{ID: "r1", Type: protocol.EventReactionNew, CID: "team:a", Seq: 4, CreatedAt: at(4),
		Reaction: &protocol.Reaction{MessageID: "m1", CID: "team:a", UserID: "bob", Type: "like", Version: 4},
		Message:  &protocol.Message{ID: "m1", CID: "team:a", UserID: "alice", Text: "secret edited", Version: 4}}

	t.Run("NeverCreates", func(t *testing.T) {
		db := openTestDB(t)
		apply(t, db, redacted(newEv), redacted(react))
		messageGone(t, db, "m1", "a redacted message.new")
		apply(t, db, redacted(newEv), redacted(upd), redacted(react))
		messageGone(t, db, "m1", "the same redacted events again")
	})
	t.Run("RemovesHeld", func(t *testing.T) {
		db := openTestDB(t)
		apply(t, db, newEv, upd, react)
		mustMessage(t, db, "m1")
		apply(t, db, redacted(upd))
		messageGone(t, db, "m1", "a redacted message.updated")
		rs, err := db.Reactions(context.Background(), "m1")
		if err != nil || len(rs) != 0 {
			t.Errorf("reactions of the redacted message = %v, %v", rs, err)
		}
	})
	t.Run("RemovedMessageNamed", func(t *testing.T) {
		// A replayed answer, or a hard delete, names a message removed
		// for good by its id alone.
		db := openTestDB(t)
		apply(t, db, newEv)
		answer := &protocol.Event{ID: "answer", Type: protocol.EventMessageUpdated, CID: "team:a", CreatedAt: at(9),
			Message: protocol.RemovedMessage(upd.Message)} // an answer has no seq
		apply(t, db, answer)
		messageGone(t, db, "m1", "an answer naming the removed message")
		apply(t, db, upd, answer, newEv)
		messageGone(t, db, "m1", "late originals after the removed message's answer")
	})
	t.Run("LateOriginalStaysOut", func(t *testing.T) {
		db := openTestDB(t)
		apply(t, db, redacted(newEv))
		// The originals, delivered live before the removal, arrive late.
		apply(t, db, newEv, upd, react)
		messageGone(t, db, "m1", "late originals after a redaction")
	})
}

// TestApplyEvent_TruncateBySeq: what a truncate removed is decided by
// seq, not by times: a message after it in the log stays whatever its
// time, and one before it is removed and stays out.
func TestApplyEvent_TruncateBySeq(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	before := msgEvent(protocol.EventMessageNew, "team:a", "m-before", "before", 2)
	before.Message.CreatedAt = at(10)
	trunc := &protocol.Event{ID: "t", Type: protocol.EventChannelTruncated, CID: "team:a", Seq: 3, CreatedAt: at(100),
		Channel: &protocol.Channel{CID: "team:a", Type: "team", ID: "a", TruncatedAt: ptr(at(100)), TruncatedSeq: 3, Version: 3}}
	// Sent after the truncate in the log, with an earlier time (a clock
	// that went back, or a write that waited behind the truncate).
	after := msgEvent(protocol.EventMessageNew, "team:a", "m-after", "after", 4)
	after.Message.CreatedAt = at(50)
	apply(t, db, before, trunc, after)
	messageGone(t, db, "m-before", "the truncate")
	if m := mustMessage(t, db, "m-after"); !m.CreatedAt.Equal(at(50)) {
		t.Errorf("m-after created_at = %v, want its server time %v", m.CreatedAt, at(50))
	}
	// Late and repeated, in another order.
	apply(t, db, after, before, trunc)
	messageGone(t, db, "m-before", "a late message.new from before the truncate")
	mustMessage(t, db, "m-after")

	// A channel state carries where the truncate stands.
	st := protocol.ChannelResponse{Channel: *trunc.Channel, Position: &protocol.Position{Epoch: "e", Seq: 4, EventID: "x"},
		Messages: []protocol.Message{*after.Message}}
	st.Messages[0].Seq, st.Messages[0].Version = 4, 4
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{st}, nil); err != nil {
		t.Fatal(err)
	}
	apply(t, db, before)
	messageGone(t, db, "m-before", "a late message.new after a state")
	mustMessage(t, db, "m-after")
}

func ptr[T any](v T) *T { return &v }
