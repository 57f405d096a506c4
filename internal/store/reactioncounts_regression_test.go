package store_test

import (
	"encoding/json"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

// TestApplyEvent_LastReactionRemovedClearsCounts: when a message loses its
// last reaction, the server's reaction.deleted event carries the message
// with no reaction_counts at all (the field is omitempty). That absence is
// the new count, zero, not a partial payload: the store must not keep the
// old count. Found by TestConvergence (every client kept "love=1" on a
// message the server had none on).
func TestApplyEvent_LastReactionRemovedClearsCounts(t *testing.T) {
	db := openTestDB(t)
	cid := "team:general"
	apply(t, db, msgEvent(protocol.EventMessageNew, cid, "m1", "hi", 1))
	r := &protocol.Reaction{MessageID: "m1", CID: cid, UserID: "bob", Type: "love", CreatedAt: at(2), Version: 2}
	added := msgEvent(protocol.EventReactionNew, cid, "m1", "hi", 2)
	added.Reaction, added.Message.ReactionCounts = r, map[string]int{"love": 1}
	apply(t, db, added)
	if got := mustMessage(t, db, "m1").ReactionCounts["love"]; got != 1 {
		t.Fatalf("after reaction.new: love = %d, want 1", got)
	}

	// The event as it comes off the wire.
	del := msgEvent(protocol.EventReactionDeleted, cid, "m1", "hi", 3)
	r3 := *r
	r3.Version = 3
	del.Reaction, del.Message.ReactionCounts = &r3, map[string]int{}
	data, err := json.Marshal(del)
	if err != nil {
		t.Fatal(err)
	}
	var wire protocol.Event
	if err := json.Unmarshal(data, &wire); err != nil {
		t.Fatal(err)
	}
	apply(t, db, &wire)
	if got := mustMessage(t, db, "m1").ReactionCounts; len(got) != 0 {
		t.Errorf("after the last reaction.deleted: counts = %v, want none", got)
	}
}

// TestApplyEvent_NewerMessageWithoutCountsClearsThem: the author's edit,
// answered after a reaction was removed, carries the message with no
// counts at a newer version; applied before the reaction.deleted (which
// the version guard then skips for the message), it must still leave no
// stale count. Found by TestConvergence after the fix above.
func TestApplyEvent_NewerMessageWithoutCountsClearsThem(t *testing.T) {
	db := openTestDB(t)
	cid := "team:general"
	apply(t, db, msgEvent(protocol.EventMessageNew, cid, "m1", "hi", 1))
	added := msgEvent(protocol.EventReactionNew, cid, "m1", "hi", 2)
	added.Reaction = &protocol.Reaction{MessageID: "m1", CID: cid, UserID: "bob", Type: "love", CreatedAt: at(2), Version: 2}
	added.Message.ReactionCounts = map[string]int{"love": 1}
	apply(t, db, added)
	// Server order: reaction.deleted (3), then the edit (4). The edit
	// comes first here, as the drain's answer does.
	edit := msgEvent(protocol.EventMessageUpdated, cid, "m1", "edited", 4)
	apply(t, db, edit)
	del := msgEvent(protocol.EventReactionDeleted, cid, "m1", "hi", 3)
	del.Reaction = &protocol.Reaction{MessageID: "m1", CID: cid, UserID: "bob", Type: "love", Version: 3}
	apply(t, db, del)
	m := mustMessage(t, db, "m1")
	if len(m.ReactionCounts) != 0 || m.Text != "edited" {
		t.Errorf("message = %q with counts %v, want \"edited\" with none", m.Text, m.ReactionCounts)
	}
}
