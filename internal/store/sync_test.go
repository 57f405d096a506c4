package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// state is a channel's state as the server answers a query, at seq with
// the given message ids.
func state(cid, epoch string, seq int64, msgIDs ...string) protocol.ChannelResponse {
	typ, id, _ := protocol.SplitCID(cid)
	st := protocol.ChannelResponse{
		Channel:  protocol.Channel{CID: cid, Type: typ, ID: id, Name: id, CreatedAt: at(1), UpdatedAt: at(1), Version: 1},
		Members:  []protocol.Member{{CID: cid, UserID: "bob", Version: 1}},
		Position: &protocol.Position{Epoch: epoch, Seq: seq, EventID: "last-" + cid},
	}
	for i, mid := range msgIDs {
		st.Messages = append(st.Messages, protocol.Message{ID: mid, CID: cid, UserID: "alice", Text: mid,
			CreatedAt: at(i + 2), UpdatedAt: at(i + 2), Version: int64(i + 2)})
	}
	return st
}

func positionOf(t *testing.T, db *store.DB, cid string) (protocol.Position, bool) {
	t.Helper()
	pos, err := db.SyncPositions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pos.Channels {
		if p.CID == cid {
			return p.Position, true
		}
	}
	return protocol.Position{}, false
}

func channelIDs(t *testing.T, db *store.DB) []string {
	t.Helper()
	chs, err := db.Channels(context.Background(), store.ChannelsQuery{IncludeHidden: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range chs {
		out = append(out, c.CID)
	}
	slices.Sort(out)
	return out
}

func TestApplySyncPage_FeedResetAnnouncesAndDrops(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:old", "e1", 4, "m-old")}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := db.ApplySyncPage(ctx, &protocol.SyncResponse{
		Feed:     protocol.FeedPage{Reset: true, Channels: []string{"team:a", "team:b"}, Position: protocol.Position{Epoch: "f", Seq: 7, EventID: "f7"}},
		SyncedAt: at(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"team:a", "team:b"}; !slices.Equal(res.NeedState, want) {
		t.Errorf("NeedState = %v, want %v", res.NeedState, want)
	}
	if !slices.Equal(res.Dropped, []string{"team:old"}) {
		t.Errorf("Dropped = %v, want team:old", res.Dropped)
	}
	if _, err := db.Message(ctx, "m-old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a dropped channel's message stayed: %v", err)
	}
	// Announced channels are synced from scratch and not listed until
	// their state is here.
	if got := channelIDs(t, db); len(got) != 0 {
		t.Errorf("listed = %v, want none before the states arrive", got)
	}
	if p, ok := positionOf(t, db, "team:a"); !ok || !p.IsZero() {
		t.Errorf("team:a position = %+v, %v; want the zero position", p, ok)
	}
	pos, _ := db.SyncPositions(ctx)
	if pos.Feed == nil || *pos.Feed != (protocol.Position{Epoch: "f", Seq: 7, EventID: "f7"}) {
		t.Errorf("feed position = %+v", pos.Feed)
	}
	if !pos.LastSyncAt.Equal(at(10)) {
		t.Errorf("last sync at = %v, want %v", pos.LastSyncAt, at(10))
	}
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "ea", 3, "m1")}, []string{"team:b"}); err != nil {
		t.Fatal(err)
	}
	if got := channelIDs(t, db); !slices.Equal(got, []string{"team:a"}) {
		t.Errorf("listed = %v, want team:a", got)
	}
	if p, _ := positionOf(t, db, "team:a"); p != (protocol.Position{Epoch: "ea", Seq: 3, EventID: "last-team:a"}) {
		t.Errorf("team:a position = %+v", p)
	}
	if _, ok := positionOf(t, db, "team:b"); ok {
		t.Error("team:b, inaccessible, is still held")
	}
}

func TestApplySyncPage_EventsAndPositionsTogether(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "ea", 1), state("team:r", "er", 1, "keep")}, nil); err != nil {
		t.Fatal(err)
	}
	pending, _ := store.NewSendMessageTask("bob", "team:r", protocol.MessageInput{ID: "unsent", Text: "unsent"})
	if _, err := db.AddPendingTask(ctx, pending); err != nil {
		t.Fatal(err)
	}
	ev := msgEvent(protocol.EventMessageNew, "team:a", "m2", "hello", 2)
	ev.Epoch = "ea"
	stray := msgEvent(protocol.EventMessageNew, "team:r", "stray", "not for a reset channel", 9)
	res, err := db.ApplySyncPage(ctx, &protocol.SyncResponse{
		Feed:   protocol.FeedPage{Position: protocol.Position{Epoch: "f", Seq: 1, EventID: "f1"}},
		Events: []protocol.Event{*ev, *stray},
		Channels: []protocol.ChannelSync{
			{CID: "team:a", Status: protocol.ChannelOK, Position: &protocol.Position{Epoch: "ea", Seq: 2, EventID: ev.ID}},
			{CID: "team:r", Status: protocol.ChannelReset, Reason: "pruned"},
		},
		More: true, SyncedAt: at(5),
	})
	if err != nil {
		t.Fatal(err)
	}
	mustMessage(t, db, "m2")
	if p, _ := positionOf(t, db, "team:a"); p.Seq != 2 || p.EventID != ev.ID {
		t.Errorf("team:a position = %+v, want seq 2 at %s", p, ev.ID)
	}
	if !slices.Equal(res.NeedState, []string{"team:r"}) {
		t.Errorf("NeedState = %v, want team:r", res.NeedState)
	}
	// A reset channel keeps its rows until its new state replaces them.
	mustMessage(t, db, "keep")
	if _, err := db.Message(ctx, "stray"); !errors.Is(err, store.ErrNotFound) {
		t.Error("an event of a reset channel was applied")
	}
	// More was set: the page is not the end of the sync.
	if pos, _ := db.SyncPositions(ctx); !pos.LastSyncAt.IsZero() {
		t.Errorf("last sync at = %v after a page with More", pos.LastSyncAt)
	}
	// The new state replaces the reset channel's rows and keeps the
	// unsent write.
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:r", "er2", 40, "fresh")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Message(ctx, "keep"); !errors.Is(err, store.ErrNotFound) {
		t.Error("the reset channel kept a row the new state does not have")
	}
	mustMessage(t, db, "fresh")
	if m := mustMessage(t, db, "unsent"); m.Status != store.StatusPending {
		t.Errorf("unsent message status = %s, want pending", m.Status)
	}
	if p, _ := positionOf(t, db, "team:r"); p.Epoch != "er2" || p.Seq != 40 {
		t.Errorf("team:r position = %+v", p)
	}
}

func TestApplySyncPage_FeedEvents(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:gone", "eg", 2, "g1")}, nil); err != nil {
		t.Fatal(err)
	}
	ev := msgEvent(protocol.EventMessageNew, "team:gone", "late", "late", 3)
	ev.Epoch = "eg"
	res, err := db.ApplySyncPage(ctx, &protocol.SyncResponse{
		Feed: protocol.FeedPage{
			Events: []protocol.Event{
				{ID: "f1", Type: protocol.EventNotificationRemovedFromChannel, CID: "team:gone", Seq: 1, Epoch: "f", CreatedAt: at(1)},
				{ID: "f2", Type: protocol.EventNotificationAddedToChannel, CID: "team:new", Seq: 2, Epoch: "f", CreatedAt: at(2)},
				{ID: "f3", Type: protocol.EventUserUpdated, Seq: 3, Epoch: "f", CreatedAt: at(3),
					User: &protocol.User{ID: "bob", Name: "Bob B.", Version: 2}},
			},
			Position: protocol.Position{Epoch: "f", Seq: 3, EventID: "f3"},
		},
		Events:   []protocol.Event{*ev},
		Channels: []protocol.ChannelSync{{CID: "team:gone", Status: protocol.ChannelOK, Position: &protocol.Position{Epoch: "eg", Seq: 3, EventID: ev.ID}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Dropped, []string{"team:gone"}) || !slices.Equal(res.NeedState, []string{"team:new"}) {
		t.Errorf("dropped %v, need %v; want team:gone, team:new", res.Dropped, res.NeedState)
	}
	for _, id := range []string{"g1", "late"} {
		if _, err := db.Message(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a channel the user left is still here", id)
		}
	}
	if _, ok := positionOf(t, db, "team:gone"); ok {
		t.Error("team:gone is still held")
	}
	if u, err := db.User(ctx, "bob"); err != nil || u.Name != "Bob B." {
		t.Errorf("user = %+v, %v; want the feed's update", u, err)
	}
}

func TestApplyLiveEvents_InOrderOnly(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "ea", 5)}, nil); err != nil {
		t.Fatal(err)
	}
	live := func(id string, seq int64, epoch string) protocol.Event {
		ev := msgEvent(protocol.EventMessageNew, "team:a", id, id, seq)
		ev.Epoch = epoch
		return *ev
	}
	for _, tc := range []struct {
		name     string
		evs      []protocol.Event
		applied  int
		needSync bool
		seq      int64
	}{
		{"next two", []protocol.Event{live("m6", 6, "ea"), live("m7", 7, "ea")}, 2, false, 7},
		{"duplicate", []protocol.Event{live("m7", 7, "ea")}, 0, false, 7},
		{"gap", []protocol.Event{live("m9", 9, "ea")}, 0, true, 7},
		{"other epoch", []protocol.Event{live("x8", 8, "other")}, 0, true, 7},
		{"unknown channel", []protocol.Event{{ID: "u1", Type: protocol.EventMessageNew, CID: "team:zz", Seq: 1, Epoch: "z", CreatedAt: at(1),
			Message: &protocol.Message{ID: "zz", CID: "team:zz", Version: 1}}}, 0, true, 7},
		{"feed event", []protocol.Event{{ID: "n1", Type: protocol.EventNotificationAddedToChannel, CID: "team:b", Seq: 4, Epoch: "f", CreatedAt: at(1)}}, 0, true, 7},
		// The user's own profile change comes at a place in their feed;
		// a contact's comes with none and applies at once.
		{"own user.updated", []protocol.Event{{ID: "u2", Type: protocol.EventUserUpdated, UserID: "bob", Seq: 5, Epoch: "f", CreatedAt: at(1),
			User: &protocol.User{ID: "bob", Name: "Bob", Version: 2}}}, 0, true, 7},
		{"contact's user.updated", []protocol.Event{{ID: "u3", Type: protocol.EventUserUpdated, UserID: "carol", CreatedAt: at(1),
			User: &protocol.User{ID: "carol", Name: "Carol", Version: 2}}}, 1, false, 7},
	} {
		res, err := db.ApplyLiveEvents(ctx, tc.evs)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.Applied != tc.applied || res.NeedSync != tc.needSync {
			t.Errorf("%s: applied %d need sync %v; want %d, %v", tc.name, res.Applied, res.NeedSync, tc.applied, tc.needSync)
		}
		if p, _ := positionOf(t, db, "team:a"); p.Seq != tc.seq {
			t.Errorf("%s: position seq %d, want %d", tc.name, p.Seq, tc.seq)
		}
	}
	for _, id := range []string{"m9", "x8", "zz"} {
		if _, err := db.Message(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s was applied out of order", id)
		}
	}
	if _, ok := positionOf(t, db, "team:zz"); ok {
		t.Error("a live event for an unknown channel made a channel")
	}
}

// TestApplyLiveEvents_AnotherEventAtThePosition: a live event at the
// channel's position (same epoch and seq) whose id is not the one the
// store applied there comes from a log rewritten under the same epoch. It
// is not dropped as a duplicate: the store applies nothing of it, nor of
// the channel's later live events, and asks for a sync, whose position
// (the seq without an event id) the server answers with a reset
// (diverged), as it answers a sync from a position it does not hold.
func TestApplyLiveEvents_AnotherEventAtThePosition(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "ea", 5)}, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := positionOf(t, db, "team:a")
	if before.EventID == "" {
		t.Fatal("the state's position has no event id")
	}
	live := func(id string, seq int64) protocol.Event {
		ev := msgEvent(protocol.EventMessageNew, "team:a", id, id, seq)
		ev.Epoch = "ea"
		return *ev
	}
	for _, tc := range []struct {
		name string
		evs  []protocol.Event
	}{
		{"another event at the position, then its successor", []protocol.Event{live("x5", 5), live("x6", 6)}},
		{"the successor, later", []protocol.Event{live("x7", 6)}},
		{"the event at the position again", []protocol.Event{live("x5", 5)}},
	} {
		res, err := db.ApplyLiveEvents(ctx, tc.evs)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 0 || !res.NeedSync {
			t.Errorf("%s: applied %d, need sync %v; want 0, true", tc.name, res.Applied, res.NeedSync)
		}
	}
	for _, id := range []string{"x5", "x6", "x7"} {
		if _, err := db.Message(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of the other log was applied", id)
		}
	}
	if p, _ := positionOf(t, db, "team:a"); p != (protocol.Position{Epoch: "ea", Seq: 5}) {
		t.Errorf("position %+v, want ea/5 without an event id", p)
	}
	// The duplicate of the event the store holds is still a duplicate.
	db2 := openTestDB(t)
	if err := db2.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "ea", 5)}, nil); err != nil {
		t.Fatal(err)
	}
	dup := live("same", 5)
	dup.ID = before.EventID
	if res, err := db2.ApplyLiveEvents(ctx, []protocol.Event{dup}); err != nil || res.NeedSync {
		t.Errorf("the event held at the position: need sync %v, %v; want a plain duplicate", res.NeedSync, err)
	}
	// Found within a batch that moved the position first.
	res, err := db2.ApplyLiveEvents(ctx, []protocol.Event{live("m6", 6), live("y6", 6), live("y7", 7)})
	if err != nil || res.Applied != 1 || !res.NeedSync {
		t.Fatalf("applied %d, need sync %v, %v; want m6 alone, and a sync", res.Applied, res.NeedSync, err)
	}
	if p, _ := positionOf(t, db2, "team:a"); p != (protocol.Position{Epoch: "ea", Seq: 6}) {
		t.Errorf("position %+v, want ea/6 without an event id", p)
	}
}

func TestApplyChannelStates_RefusesAStateWithoutPosition(t *testing.T) {
	db := openTestDB(t)
	st := state("team:a", "ea", 1)
	st.Position = nil
	if err := db.ApplyChannelStates(context.Background(), []protocol.ChannelResponse{st}, nil); err == nil {
		t.Fatal("a state without a position was stored")
	}
}

// TestOpen_UpgradesAV1Store: a client DB made by release v1 opens, keeps
// its outbox, and is synced from scratch (no positions).
func TestOpen_UpgradesAV1Store(t *testing.T) {
	ctx := context.Background()
	db := openCopy(t, "../../testdata/v1-client.db")
	// v1 recorded its user, bob, without binding: outpost.Open binds it.
	if err := db.Bind(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	pending, err := db.PendingTasks(ctx)
	if err != nil || len(pending) != 1 || pending[0].MessageID != "m-offline-v1" {
		t.Fatalf("pending = %+v, %v; want the v1 outbox", pending, err)
	}
	pos, err := db.SyncPositions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos.Feed != nil || len(pos.Channels) != 1 || !pos.Channels[0].Position.IsZero() {
		t.Errorf("positions = %+v, want team:general from scratch and no feed", pos)
	}
}

// openCopy opens a copy of the store at path, so the original stays as it
// is.
func openCopy(t *testing.T, path string) *store.DB {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), dst, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
