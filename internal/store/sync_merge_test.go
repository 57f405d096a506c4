package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

// A page's positions and channel bookkeeping go in multi-row statements;
// every channel of a page wider than one statement must get its own
// position and latest activity.
func TestApplySyncPage_ManyChannelsEachGetTheirPosition(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	const n = 150 // more than one merged statement's rows
	var states []protocol.ChannelResponse
	page := &protocol.SyncResponse{Feed: protocol.FeedPage{Position: protocol.Position{Epoch: "f", Seq: 1, EventID: "f1"}}}
	for i := 0; i < n; i++ {
		cid := fmt.Sprintf("team:c%03d", i)
		states = append(states, state(cid, "e", 1))
		ev := msgEvent(protocol.EventMessageNew, cid, fmt.Sprintf("m%03d", i), "hi", int64(i+2))
		ev.Epoch = "e"
		ev.Message.CreatedAt = at(10 + i)
		page.Events = append(page.Events, *ev)
		page.Channels = append(page.Channels, protocol.ChannelSync{CID: cid, Status: protocol.ChannelOK,
			Position: &protocol.Position{Epoch: "e", Seq: int64(i + 2), EventID: ev.ID}})
	}
	if err := db.ApplyChannelStates(ctx, states, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplySyncPage(ctx, page); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		cid := fmt.Sprintf("team:c%03d", i)
		if p, _ := positionOf(t, db, cid); p.Seq != int64(i+2) || p.EventID != page.Events[i].ID {
			t.Fatalf("%s position = %+v, want seq %d", cid, p, i+2)
		}
		ch, err := db.Channel(ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		if want := at(10 + i); ch.LastMessageAt == nil || !ch.LastMessageAt.Equal(want) {
			t.Fatalf("%s last message at %v, want %v", cid, ch.LastMessageAt, want)
		}
	}
}

// A page that lists a channel twice (a bad server) leaves the channel at
// the higher of the positions, as one guarded update after another does.
func TestApplySyncPage_ChannelListedTwice(t *testing.T) {
	ctx := context.Background()
	for _, order := range [][2]int64{{5, 3}, {3, 5}} {
		db := openTestDB(t)
		if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "e", 1)}, nil); err != nil {
			t.Fatal(err)
		}
		page := &protocol.SyncResponse{Feed: protocol.FeedPage{Position: protocol.Position{Epoch: "f", Seq: 1, EventID: "f1"}}}
		for _, seq := range order {
			page.Channels = append(page.Channels, protocol.ChannelSync{CID: "team:a", Status: protocol.ChannelOK,
				Position: &protocol.Position{Epoch: "e", Seq: seq, EventID: fmt.Sprintf("ev%d", seq)}})
		}
		if _, err := db.ApplySyncPage(ctx, page); err != nil {
			t.Fatal(err)
		}
		if p, _ := positionOf(t, db, "team:a"); p.Seq != 5 || p.EventID != "ev5" {
			t.Errorf("positions %v: team:a at %+v, want seq 5", order, p)
		}
	}
}

// A page prepared ahead (PrepareSyncPage) applies as the page itself does,
// and can be applied again without effect.
func TestApplyPreparedSyncPage_SameAsApplySyncPage(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "e", 1)}, nil); err != nil {
		t.Fatal(err)
	}
	ev := msgEvent(protocol.EventMessageNew, "team:a", "m2", "hello", 2)
	ev.Epoch = "e"
	bad := msgEvent(protocol.EventMessageNew, "team:a", "", "no id", 3)
	page := &protocol.SyncResponse{
		Feed:     protocol.FeedPage{Position: protocol.Position{Epoch: "f", Seq: 1, EventID: "f1"}},
		Events:   []protocol.Event{*ev, *bad},
		Channels: []protocol.ChannelSync{{CID: "team:a", Status: protocol.ChannelOK, Position: &protocol.Position{Epoch: "e", Seq: 3, EventID: bad.ID}}},
	}
	prepared := db.PrepareSyncPage(page)
	for i := 0; i < 2; i++ {
		res, err := db.ApplyPreparedSyncPage(ctx, prepared)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Skipped) != 1 || res.Skipped[0].EventID != bad.ID {
			t.Errorf("apply %d: skipped %v, want the event without a message id", i, res.Skipped)
		}
	}
	mustMessage(t, db, "m2")
	if p, _ := positionOf(t, db, "team:a"); p.Seq != 3 {
		t.Errorf("team:a position = %+v, want seq 3", p)
	}
}
