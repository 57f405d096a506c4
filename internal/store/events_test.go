package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

func TestApplyEvent_VersionGuard(t *testing.T) {
	db := openTestDB(t)
	apply(t, db,
		msgEvent(protocol.EventMessageNew, "team:a", "m1", "v1", 1),
		msgEvent(protocol.EventMessageUpdated, "team:a", "m1", "v5", 5),
	)
	// An older update arriving late must not win.
	apply(t, db, msgEvent(protocol.EventMessageUpdated, "team:a", "m1", "v3", 3))
	if got := mustMessage(t, db, "m1"); got.Text != "v5" || got.Version != 5 {
		t.Errorf("after late v3: text %q version %d, want v5/5", got.Text, got.Version)
	}
	// The same version again changes nothing either.
	stale := msgEvent(protocol.EventMessageUpdated, "team:a", "m1", "other", 5)
	apply(t, db, stale)
	if got := mustMessage(t, db, "m1"); got.Text != "v5" {
		t.Errorf("same version applied again: text %q, want v5", got.Text)
	}
}

func TestApplyEvent_HardDeleteTombstone(t *testing.T) {
	db := openTestDB(t)
	newEv := msgEvent(protocol.EventMessageNew, "team:a", "m1", "hi", 1)
	del := msgEvent(protocol.EventMessageDeleted, "team:a", "m1", "", 4)
	del.HardDelete = true
	apply(t, db, newEv, del)
	if _, err := db.Message(context.Background(), "m1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after hard delete: %v, want ErrNotFound", err)
	}
	// A late or repeated message.new must not bring it back.
	apply(t, db, newEv)
	apply(t, db, msgEvent(protocol.EventMessageUpdated, "team:a", "m1", "edit", 3))
	if _, err := db.Message(context.Background(), "m1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a late event resurrected a hard-deleted message: %v", err)
	}
}

func TestApplyEvent_SoftDeleteAndUndelete(t *testing.T) {
	db := openTestDB(t)
	del := msgEvent(protocol.EventMessageDeleted, "team:a", "m1", "", 2)
	del.Message.DeletedAt = nil // the event time stands in
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "m1", "hi", 1), del)
	m := mustMessage(t, db, "m1")
	if m.DeletedAt == nil || !m.DeletedAt.Equal(del.CreatedAt) {
		t.Fatalf("deleted_at = %v, want %v", m.DeletedAt, del.CreatedAt)
	}
	if m.Text != "hi" {
		t.Errorf("soft delete without text blanked it: %q", m.Text)
	}
	// A late message.new (older) keeps it deleted.
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "m1", "hi", 1))
	if m := mustMessage(t, db, "m1"); m.DeletedAt == nil {
		t.Error("a late message.new undeleted the message")
	}
	// A partial update (no deleted_at) with a higher version keeps it deleted.
	apply(t, db, msgEvent(protocol.EventMessageUpdated, "team:a", "m1", "edited", 3))
	if m := mustMessage(t, db, "m1"); m.DeletedAt == nil || m.Text != "edited" {
		t.Errorf("after update: deleted_at %v text %q", m.DeletedAt, m.Text)
	}
	apply(t, db, msgEvent(protocol.EventMessageUndeleted, "team:a", "m1", "", 4))
	if m := mustMessage(t, db, "m1"); m.DeletedAt != nil || m.Text != "edited" {
		t.Errorf("after undelete: deleted_at %v text %q, want nil/edited", m.DeletedAt, m.Text)
	}
}

func TestApplyEvent_PartialPayloadKeepsColumns(t *testing.T) {
	db := openTestDB(t)
	full := msgEvent(protocol.EventMessageNew, "team:a", "m1", "keep me", 1)
	full.Message.Extra = []byte(`{"color":"red"}`)
	full.Message.ParentID = "p0"
	apply(t, db, full)
	// A reaction event carries the message with new counts but no text,
	// user or extra.
	apply(t, db, &protocol.Event{ID: "r1", Type: protocol.EventReactionNew, CID: "team:a", Seq: 2, CreatedAt: at(2),
		Reaction: &protocol.Reaction{MessageID: "m1", UserID: "bob", Type: "like", Score: 1, Version: 2},
		Message:  &protocol.Message{ID: "m1", CID: "team:a", ReactionCounts: map[string]int{"like": 1}, Version: 2}})
	m := mustMessage(t, db, "m1")
	if m.Text != "keep me" || m.UserID != "alice" || m.ParentID != "p0" || string(m.Extra) != `{"color":"red"}` {
		t.Errorf("partial payload blanked columns: %+v", m.Message)
	}
	if !m.CreatedAt.Equal(at(1)) {
		t.Errorf("created_at = %v, want %v", m.CreatedAt, at(1))
	}
	if m.ReactionCounts["like"] != 1 || m.Version != 2 {
		t.Errorf("counts %v version %d, want like:1 / 2", m.ReactionCounts, m.Version)
	}
}

func TestApplyEvent_UnknownChannelNeedsNoForeignKey(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	// Members and reads hang off channels by foreign key; the channel has
	// never been seen.
	apply(t, db,
		&protocol.Event{ID: "e1", Type: protocol.EventMemberAdded, CID: "team:new", Seq: 3, CreatedAt: at(3),
			Member: &protocol.Member{CID: "team:new", UserID: "bob", Role: "member", Version: 3}},
		&protocol.Event{ID: "e2", Type: protocol.EventMessageRead, CID: "team:new", Seq: 4, CreatedAt: at(4),
			Read: &protocol.Read{CID: "team:new", UserID: "bob", LastReadAt: at(4), Version: 4}},
	)
	members, err := db.Members(ctx, "team:new")
	if err != nil || len(members) != 1 {
		t.Fatalf("members = %v, %v; want bob", members, err)
	}
	// The channel is known, and synced from scratch: an event alone
	// never moves a position, and a channel without its state is not
	// listed.
	pos, _ := db.SyncPositions(ctx)
	if len(pos.Channels) != 1 || pos.Channels[0].CID != "team:new" || !pos.Channels[0].Position.IsZero() {
		t.Errorf("positions = %+v, want team:new at the zero position", pos.Channels)
	}
	if chs, _ := db.Channels(ctx, store.ChannelsQuery{}); len(chs) != 0 {
		t.Errorf("channels = %+v: a channel without its state is not listed", chs)
	}
}

func TestApplyEvent_UnknownTypeIgnoredAndCounted(t *testing.T) {
	db := openTestDB(t)
	qs, err := db.EventQueries(&protocol.Event{ID: "x", Type: "poll.created", CreatedAt: at(1)})
	if err != nil || len(qs) != 0 {
		t.Fatalf("EventQueries(unknown) = %v, %v; want no queries, no error", qs, err)
	}
	if got := db.IgnoredEvents(); got != 1 {
		t.Errorf("IgnoredEvents = %d, want 1", got)
	}
	qs, err = db.EventQueries(&protocol.Event{Type: protocol.EventTypingStart, CID: "team:a"})
	if err != nil || len(qs) != 0 {
		t.Errorf("typing event gave %v, %v; want nothing", qs, err)
	}
}

func TestApplyEvent_InvalidEvents(t *testing.T) {
	db := openTestDB(t)
	for name, ev := range map[string]*protocol.Event{
		"nil":             nil,
		"no id":           {Type: protocol.EventMessageNew, CID: "a:b", Seq: 1, Message: &protocol.Message{ID: "m"}},
		"no message":      {ID: "e", Type: protocol.EventMessageNew, CID: "a:b", Seq: 1},
		"no message id":   {ID: "e", Type: protocol.EventMessageNew, CID: "a:b", Seq: 1, Message: &protocol.Message{}},
		"no cid":          {ID: "e", Type: protocol.EventMessageNew, Seq: 1, Message: &protocol.Message{ID: "m"}},
		"bad cid":         {ID: "e", Type: protocol.EventMessageNew, CID: "nocolon", Seq: 1, Message: &protocol.Message{ID: "m"}},
		"no version":      {ID: "e", Type: protocol.EventMessageNew, CID: "a:b", Message: &protocol.Message{ID: "m"}},
		"no reaction":     {ID: "e", Type: protocol.EventReactionNew, CID: "a:b", Seq: 1},
		"reaction no key": {ID: "e", Type: protocol.EventReactionNew, CID: "a:b", Seq: 1, Reaction: &protocol.Reaction{MessageID: "m"}},
		"no member":       {ID: "e", Type: protocol.EventMemberAdded, CID: "a:b", Seq: 1},
		"no read":         {ID: "e", Type: protocol.EventMessageRead, CID: "a:b", Seq: 1},
		"user no version": {ID: "e", Type: protocol.EventUserUpdated, User: &protocol.User{ID: "u"}},
		"no channel":      {ID: "e", Type: protocol.EventChannelUpdated, CID: "a:b", Seq: 1},
	} {
		t.Run(name, func(t *testing.T) {
			err := db.ApplyEvent(context.Background(), ev)
			var ee *store.EventError
			if !errors.Is(err, store.ErrInvalidEvent) || !errors.As(err, &ee) {
				t.Errorf("ApplyEvent = %v, want an *EventError wrapping ErrInvalidEvent", err)
			}
		})
	}
}

func TestExecQueries_SkipsAFailingEventAndReportsIt(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	var qs []store.Query
	for _, ev := range []*protocol.Event{
		msgEvent(protocol.EventMessageNew, "team:a", "m1", "one", 1),
		msgEvent(protocol.EventMessageNew, "team:a", "m2", "two", 2),
	} {
		q, err := db.EventQueries(ev)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q...)
	}
	// An event whose query cannot run, between two good ones.
	bad := store.Query{SQL: `INSERT INTO no_such_table VALUES (1)`, EventID: "bad-event"}
	qs = append(qs[:1], append([]store.Query{bad}, qs[1:]...)...)
	qs = append(qs, store.LastSyncedAtQuery(testUser, at(9)))

	skipped, err := db.ExecQueries(ctx, qs)
	if err != nil {
		t.Fatalf("ExecQueries: %v", err)
	}
	if len(skipped) != 1 || skipped[0].EventID != "bad-event" {
		t.Fatalf("skipped = %v, want just bad-event", skipped)
	}
	mustMessage(t, db, "m1")
	mustMessage(t, db, "m2")
	if got, ok, _ := db.LastSyncedAt(ctx); !ok || !got.Equal(at(9)) {
		t.Errorf("checkpoint = %v %v, want %v", got, ok, at(9))
	}
}

// TestExecQueries_AllOrNothing: a query that belongs to no event (the
// checkpoint) failing means nothing commits, so the page and its
// checkpoint stay together.
func TestExecQueries_AllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.SetLastSyncedAt(ctx, at(1)); err != nil {
		t.Fatal(err)
	}
	qs, err := db.EventQueries(msgEvent(protocol.EventMessageNew, "team:a", "m1", "one", 1))
	if err != nil {
		t.Fatal(err)
	}
	qs = append(qs, store.LastSyncedAtQuery(testUser, at(5)), store.Query{SQL: `SELECT * FROM no_such_table`})
	if _, err := db.ExecQueries(ctx, qs); err == nil {
		t.Fatal("a failing checkpoint query did not fail the batch")
	}
	if _, err := db.Message(ctx, "m1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the page committed without its checkpoint: %v", err)
	}
	if got, _, _ := db.LastSyncedAt(ctx); !got.Equal(at(1)) {
		t.Errorf("checkpoint = %v, want the old %v", got, at(1))
	}
}

func TestApplyEvent_ChannelLifecycle(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	ch := func(seq int64, name string) *protocol.Channel {
		return &protocol.Channel{CID: "team:a", Type: "team", ID: "a", Name: name, CreatedAt: at(0), Version: seq, MemberCount: 2}
	}
	apply(t, db,
		&protocol.Event{ID: "c1", Type: protocol.EventChannelCreated, CID: "team:a", Seq: 1, CreatedAt: at(1), Channel: ch(1, "general")},
		msgEvent(protocol.EventMessageNew, "team:a", "m1", "old", 2),
		&protocol.Event{ID: "c2", Type: protocol.EventChannelUpdated, CID: "team:a", Seq: 3, CreatedAt: at(3), Channel: ch(3, "")},
	)
	c, err := db.Channel(ctx, "team:a")
	if err != nil || c.Name != "general" || c.Version != 3 {
		t.Fatalf("channel = %+v, %v; want name kept (partial update), version 3", c, err)
	}

	// Truncation removes older messages; a late message.new from before it
	// stays out.
	apply(t, db, &protocol.Event{ID: "c3", Type: protocol.EventChannelTruncated, CID: "team:a", Seq: 4, CreatedAt: at(4)})
	if _, err := db.Message(ctx, "m1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("truncate kept m1: %v", err)
	}
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "m1", "old", 2))
	if _, err := db.Message(ctx, "m1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a late message.new came back after truncation")
	}
	late := msgEvent(protocol.EventMessageNew, "team:a", "m2", "new", 5)
	late.Message.CreatedAt = at(5)
	apply(t, db, late)
	mustMessage(t, db, "m2")

	// Hidden and visible follow their own versions.
	apply(t, db, &protocol.Event{ID: "h1", Type: protocol.EventChannelHidden, CID: "team:a", Seq: 7, CreatedAt: at(7)})
	apply(t, db, &protocol.Event{ID: "h0", Type: protocol.EventChannelVisible, CID: "team:a", Seq: 6, CreatedAt: at(6)})
	if c, _ := db.Channel(ctx, "team:a"); !c.Hidden {
		t.Error("an older channel.visible un-hid the channel")
	}

	// Deletion removes the channel and its data; a late update does not
	// bring it back.
	apply(t, db, &protocol.Event{ID: "d", Type: protocol.EventChannelDeleted, CID: "team:a", Seq: 8, CreatedAt: at(8)})
	apply(t, db, &protocol.Event{ID: "c2", Type: protocol.EventChannelUpdated, CID: "team:a", Seq: 3, CreatedAt: at(3), Channel: ch(3, "x")})
	apply(t, db, msgEvent(protocol.EventMessageUpdated, "team:a", "m2", "edit", 6))
	if pos, _ := db.SyncPositions(ctx); len(pos.Channels) != 0 {
		t.Errorf("channels after delete = %v, want none", pos.Channels)
	}
	if _, err := db.Message(ctx, "m2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message of a deleted channel: %v", err)
	}
}

func TestApplyEvent_RemovedThenAddedBack(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	member := func(seq int64) *protocol.Member {
		return &protocol.Member{CID: "team:a", UserID: "me", Version: seq}
	}
	removed := &protocol.Event{ID: "rm", Type: protocol.EventNotificationRemovedFromChannel, CID: "team:a", Seq: 5, CreatedAt: at(5), Member: member(5)}
	added := &protocol.Event{ID: "add", Type: protocol.EventNotificationAddedToChannel, CID: "team:a", Seq: 9, CreatedAt: at(9),
		// The channel itself has not changed since it was made: its
		// version is older than the removal.
		Member: member(9), Channel: &protocol.Channel{CID: "team:a", Type: "team", ID: "a", Name: "back", Version: 1}}
	for name, order := range map[string][]*protocol.Event{
		"in order":     {removed, added},
		"out of order": {added, removed},
	} {
		t.Run(name, func(t *testing.T) {
			if err := db.ResetDB(ctx); err != nil {
				t.Fatal(err)
			}
			for _, ev := range order {
				apply(t, db, ev)
			}
			c, err := db.Channel(ctx, "team:a")
			if err != nil || c.Name != "back" {
				t.Errorf("channel = %+v, %v; want it back after the later re-add", c, err)
			}
		})
	}
}

func TestApplyEvent_ReactionsAndUsers(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	react := func(typ protocol.EventType, seq int64) *protocol.Event {
		return &protocol.Event{ID: string(typ) + string(rune('0'+seq)), Type: typ, CID: "team:a", Seq: seq, CreatedAt: at(int(seq)),
			Reaction: &protocol.Reaction{MessageID: "m1", CID: "team:a", UserID: "bob", Type: "like", Score: int(seq), Version: seq}}
	}
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "m1", "hi", 1), react(protocol.EventReactionNew, 2), react(protocol.EventReactionDeleted, 3))
	apply(t, db, react(protocol.EventReactionNew, 2)) // late duplicate
	if rs, _ := db.Reactions(ctx, "m1"); len(rs) != 0 {
		t.Fatalf("reactions after delete and late re-add = %v, want none", rs)
	}
	apply(t, db, react(protocol.EventReactionNew, 4)) // a real re-add
	if rs, _ := db.Reactions(ctx, "m1"); len(rs) != 1 || rs[0].Score != 4 {
		t.Fatalf("reactions after re-add = %v, want one with score 4", rs)
	}

	apply(t, db, &protocol.Event{ID: "u2", Type: protocol.EventUserUpdated, CreatedAt: at(2), User: &protocol.User{ID: "bob", Name: "Bob", Version: 2}})
	apply(t, db, &protocol.Event{ID: "u1", Type: protocol.EventUserUpdated, CreatedAt: at(1), User: &protocol.User{ID: "bob", Name: "Bobby", Version: 1}})
	if u, err := db.User(ctx, "bob"); err != nil || u.Name != "Bob" {
		t.Errorf("user = %+v, %v; want Bob (the older update loses)", u, err)
	}
}

func TestApplyEvent_Applies(t *testing.T) {
	db := openTestDB(t)
	if err := db.ApplyEvent(context.Background(), msgEvent(protocol.EventMessageNew, "team:a", "m1", "now", 1)); err != nil {
		t.Fatalf("ApplyEvent = %v", err)
	}
	if m := mustMessage(t, db, "m1"); m.Status != store.StatusSent {
		t.Errorf("status = %q, want sent", m.Status)
	}
}

// TestApplyEvent_PlainMessageRow: a message with no deletion, reaction
// counts or extra data (most of a sync, written with fewer bound
// columns) lands whole, and over a stored message keeps what an upsert
// keeps: its extra data, parent and creation time; its counts are zero.
func TestApplyEvent_PlainMessageRow(t *testing.T) {
	db := openTestDB(t)
	plain := msgEvent(protocol.EventMessageNew, "team:a", "m1", "hi", 3)
	plain.Message.ParentID, plain.Message.Seq = "p0", 3
	apply(t, db, plain)
	m := mustMessage(t, db, "m1")
	want := *plain.Message
	want.ReactionCounts = map[string]int{}
	if m.CID != want.CID || m.UserID != want.UserID || m.Text != want.Text || m.ParentID != "p0" || m.Seq != 3 ||
		!m.CreatedAt.Equal(want.CreatedAt) || !m.UpdatedAt.Equal(want.UpdatedAt) || m.DeletedAt != nil ||
		m.Version != 3 || len(m.ReactionCounts) != 0 || m.Extra != nil {
		t.Fatalf("stored %+v, want %+v", m.Message, want)
	}

	full := msgEvent(protocol.EventMessageUpdated, "team:a", "m2", "full", 2)
	full.Message.ParentID, full.Message.Extra, full.Message.ReactionCounts = "p", json.RawMessage(`{"k":1}`), map[string]int{"like": 2}
	later := msgEvent(protocol.EventMessageUpdated, "team:a", "m2", "later", 5)
	later.Message.CreatedAt = at(9)
	apply(t, db, full, later)
	m = mustMessage(t, db, "m2")
	if m.Text != "later" || m.ParentID != "p" || string(m.Extra) != `{"k":1}` || len(m.ReactionCounts) != 0 ||
		!m.CreatedAt.Equal(full.Message.CreatedAt) || !m.UpdatedAt.Equal(at(5)) || m.Version != 5 || m.DeletedAt != nil {
		t.Fatalf("after a plain update over a full row: %+v", m.Message)
	}
}
