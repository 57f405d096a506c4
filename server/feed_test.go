package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// TestSync_FeedResetThenIncremental: a first sync (no feed position) gets a
// feed reset listing the user's channels and the feed's head; later syncs
// from it get the feed's new events only, each one place further on.
func TestSync_FeedResetThenIncremental(t *testing.T) {
	ts := startServer(t, nil)
	createChannel(t, ts, "alice", "one", "bob")
	createChannel(t, ts, "bob", "two")
	createChannel(t, ts, "alice", "other")

	first := syncFrom(t, ts, "bob", nil, nil, 0)
	if !first.feedReset || !slices.Equal(first.feedChannels, []string{"team:one", "team:two"}) {
		t.Fatalf("first sync: reset %v, channels %v", first.feedReset, first.feedChannels)
	}
	if p := first.feedPos; p.Epoch == "" || p.Seq != 2 || p.EventID == "" {
		t.Fatalf("feed head = %+v, want seq 2 with an epoch and event id", p)
	}
	again := syncFrom(t, ts, "bob", &first.feedPos, nil, 0)
	if again.feedReset || len(again.feed) != 0 || again.feedPos != first.feedPos {
		t.Fatalf("sync from the head: %+v", again)
	}

	createChannel(t, ts, "alice", "three", "bob")
	ts.must(t, "bob", "PUT", "/users/me", map[string]string{"name": "Bob"}, nil)
	next := syncFrom(t, ts, "bob", &first.feedPos, nil, 0)
	if next.feedReset || len(next.feed) != 2 {
		t.Fatalf("incremental feed: reset %v, %d events", next.feedReset, len(next.feed))
	}
	added, updated := next.feed[0], next.feed[1]
	if added.Type != protocol.EventNotificationAddedToChannel || added.CID != "team:three" || added.Channel == nil ||
		added.Seq != 3 || added.Epoch != first.feedPos.Epoch {
		t.Errorf("feed event 1 = %+v", added)
	}
	if updated.Type != protocol.EventUserUpdated || updated.User == nil || updated.User.Name != "Bob" || updated.Seq != 4 {
		t.Errorf("feed event 2 = %+v", updated)
	}
	if next.feedPos.Seq != 4 || next.feedPos.EventID != updated.ID {
		t.Errorf("feed position = %+v, want seq 4 at %s", next.feedPos, updated.ID)
	}

	// A feed position of another epoch, or ahead of the feed, or whose
	// event id does not match, is reset.
	for name, p := range map[string]protocol.Position{
		"epoch":    {Epoch: "elsewhere", Seq: 4, EventID: updated.ID},
		"ahead":    {Epoch: next.feedPos.Epoch, Seq: 9, EventID: "x"},
		"diverged": {Epoch: next.feedPos.Epoch, Seq: 3, EventID: "not-it"},
	} {
		res := syncFrom(t, ts, "bob", &p, nil, 0)
		if !res.feedReset || len(res.feedChannels) != 3 || res.feedPos != next.feedPos {
			t.Errorf("%s: reset %v, channels %v, position %+v", name, res.feedReset, res.feedChannels, res.feedPos)
		}
	}
}

// TestSync_JoinedChannelComesThroughTheFeed: a channel the user is added
// to while away shows up in the feed; a zero position for it is reset,
// the client fetches it by cid with its position, and syncs from there.
func TestSync_JoinedChannelComesThroughTheFeed(t *testing.T) {
	ts := startServer(t, nil)
	createChannel(t, ts, "bob", "mine")
	first := syncFrom(t, ts, "bob", nil, nil, 0)

	createChannel(t, ts, "alice", "later")
	sendMsg(t, ts, "alice", "team:later", "m1", "before bob")
	ts.must(t, "alice", "POST", "/channels/team:later/members", protocol.AddMembersRequest{UserIDs: []string{"bob"}}, nil)

	res := syncFrom(t, ts, "bob", &first.feedPos, nil, 0)
	if len(res.feed) != 1 || res.feed[0].Type != protocol.EventNotificationAddedToChannel || res.feed[0].CID != "team:later" {
		t.Fatalf("feed = %+v", res.feed)
	}
	res = syncFrom(t, ts, "bob", &res.feedPos, map[string]protocol.Position{"team:later": {}}, 0)
	if res.resets["team:later"] != "no position" {
		t.Fatalf("zero position: resets %v", res.resets)
	}
	var q protocol.QueryChannelsResponse
	ts.must(t, "bob", "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{CIDs: []string{"team:later", "team:nope"}}, &q)
	if len(q.Channels) != 1 || q.Channels[0].Position == nil || len(q.Channels[0].Messages) != 1 ||
		!slices.Equal(q.Inaccessible, []string{"team:nope"}) {
		t.Fatalf("query by cid = %+v", q)
	}
	pos := *q.Channels[0].Position
	if pos.Seq != q.Channels[0].Channel.Version || pos.EventID == "" {
		t.Errorf("position %+v does not match the state's version %d", pos, q.Channels[0].Channel.Version)
	}
	res = syncFrom(t, ts, "bob", &res.feedPos, map[string]protocol.Position{"team:later": pos}, 0)
	if len(res.events) != 0 || len(res.resets) != 0 {
		t.Fatalf("sync from the queried position: %d events, resets %v", len(res.events), res.resets)
	}
	sendMsg(t, ts, "alice", "team:later", "m2", "after")
	res = syncFrom(t, ts, "bob", &res.feedPos, res.positions, 0)
	if len(res.events) != 1 || res.events[0].Message.ID != "m2" || res.events[0].Seq != pos.Seq+1 {
		t.Fatalf("next sync = %+v", res.events)
	}
}

// TestSync_RemovedChannel: a member removed gets removed_from_channel in
// the feed (live too), and the channel is inaccessible to their sync.
func TestSync_RemovedChannel(t *testing.T) {
	ts := startServer(t, nil)
	ch := createChannel(t, ts, "alice", "general", "bob")
	first := syncFrom(t, ts, "bob", nil, map[string]protocol.Position{ch.Channel.CID: *ch.Position}, 0)
	bob := ts.dial(t, "bob")
	ts.must(t, "alice", "DELETE", "/channels/team:general/members/bob", nil, nil)
	var live []protocol.EventType
	for range 2 {
		ev := bob.next(t)
		live = append(live, ev.Type)
		if ev.Type == protocol.EventNotificationRemovedFromChannel && (ev.Seq != first.feedPos.Seq+1 || ev.Epoch != first.feedPos.Epoch) {
			t.Errorf("live feed event at %d/%s, want %d/%s", ev.Seq, ev.Epoch, first.feedPos.Seq+1, first.feedPos.Epoch)
		}
	}
	if !slices.Equal(live, []protocol.EventType{protocol.EventMemberRemoved, protocol.EventNotificationRemovedFromChannel}) {
		t.Errorf("live events = %v", live)
	}
	res := syncFrom(t, ts, "bob", &first.feedPos, first.positions, 0)
	if len(res.feed) != 1 || res.feed[0].Type != protocol.EventNotificationRemovedFromChannel || res.feed[0].CID != ch.Channel.CID {
		t.Fatalf("feed = %+v", res.feed)
	}
	if !slices.Equal(res.inaccessible, []string{ch.Channel.CID}) || len(res.events) != 0 {
		t.Fatalf("inaccessible %v, %d events", res.inaccessible, len(res.events))
	}
}

// TestSync_PrunedFeed: a feed position before what retention kept is
// reset; one at the cut (the last pruned event) is still continued.
func TestSync_PrunedFeed(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.Retention = time.Hour })
	ts.clock.Set(time.Now().Add(-2 * time.Hour)) // the feed's events are old
	createChannel(t, ts, "alice", "one", "bob")
	early := syncFrom(t, ts, "bob", nil, nil, 0)
	createChannel(t, ts, "alice", "two", "bob")
	head := syncFrom(t, ts, "bob", &early.feedPos, nil, 0)
	if head.feedPos.Seq != 2 {
		t.Fatalf("feed head = %+v", head.feedPos)
	}
	ts.clock.Set(time.Time{}) // back to now
	if n := ts.srv.Prune(context.Background()); n == 0 {
		t.Fatal("nothing pruned")
	}
	if res := syncFrom(t, ts, "bob", &early.feedPos, nil, 0); !res.feedReset || len(res.feedChannels) != 2 || res.feedPos != head.feedPos {
		t.Errorf("from before the cut: reset %v, channels %v, position %+v", res.feedReset, res.feedChannels, res.feedPos)
	}
	if res := syncFrom(t, ts, "bob", &head.feedPos, nil, 0); res.feedReset || res.feedPos != head.feedPos {
		t.Errorf("from the cut: reset %v, position %+v", res.feedReset, res.feedPos)
	}
}
