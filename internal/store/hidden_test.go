package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// shown lists the channels Channels returns by default: the hidden ones
// left out.
func shown(t *testing.T, db *store.DB) []string {
	t.Helper()
	chs, err := db.Channels(context.Background(), store.ChannelsQuery{})
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

func feedEvent(typ protocol.EventType, cid string, seq int64) *protocol.Event {
	return &protocol.Event{ID: string(typ) + cid, Type: typ, CID: cid, Seq: seq, Epoch: "f",
		Channel: &protocol.Channel{CID: cid, Hidden: typ == protocol.EventChannelHidden}}
}

// TestHidden_FeedEventsAndStates: channel.hidden and channel.visible from
// the feed set the flag, guarded by their feed seq; a channel's state
// replaced (a refill) keeps it; a state that says hidden hides.
func TestHidden_FeedEventsAndStates(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "e", 2), state("team:b", "e", 2)}, nil); err != nil {
		t.Fatal(err)
	}
	apply(t, db, feedEvent(protocol.EventChannelHidden, "team:a", 5))
	if got := shown(t, db); !slices.Equal(got, []string{"team:b"}) {
		t.Fatalf("shown after channel.hidden = %v, want team:b", got)
	}
	// An older visible (seq 4) does not undo a newer hidden (seq 5).
	apply(t, db, feedEvent(protocol.EventChannelVisible, "team:a", 4))
	if got := shown(t, db); !slices.Equal(got, []string{"team:b"}) {
		t.Fatalf("shown after an older channel.visible = %v, want team:b", got)
	}
	// A refill keeps the flag.
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "e", 3)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := shown(t, db); !slices.Equal(got, []string{"team:b"}) {
		t.Fatalf("shown after team:a's state was replaced = %v, want team:b", got)
	}
	if got := channelIDs(t, db); !slices.Equal(got, []string{"team:a", "team:b"}) {
		t.Fatalf("IncludeHidden = %v, want both", got)
	}
	apply(t, db, feedEvent(protocol.EventChannelVisible, "team:a", 6))
	// A state that says hidden hides.
	st := state("team:b", "e", 3)
	st.Channel.Hidden = true
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{st}, nil); err != nil {
		t.Fatal(err)
	}
	if got := shown(t, db); !slices.Equal(got, []string{"team:a"}) {
		t.Fatalf("shown = %v, want team:a", got)
	}
	if err := db.SetChannelHidden(ctx, "team:b", false); err != nil {
		t.Fatal(err)
	}
	if got := shown(t, db); !slices.Equal(got, []string{"team:a", "team:b"}) {
		t.Fatalf("shown after SetChannelHidden false = %v, want both", got)
	}
	if err := db.SetChannelHidden(ctx, "team:none", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetChannelHidden of a channel not held = %v, want ErrNotFound", err)
	}
}

// TestHidden_FeedReset: a feed reset's Hidden list hides those channels,
// shows the other listed ones, and the flag outlives the refill.
func TestHidden_FeedReset(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "e", 2)}, nil); err != nil {
		t.Fatal(err)
	}
	apply(t, db, feedEvent(protocol.EventChannelHidden, "team:a", 5))
	_, err := db.ApplySyncPage(ctx, &protocol.SyncResponse{
		Feed: protocol.FeedPage{Reset: true, Channels: []string{"team:a", "team:b", "team:c"}, Hidden: []string{"team:b"},
			Position: protocol.Position{Epoch: "g", Seq: 2, EventID: "g2"}},
		SyncedAt: at(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.ApplyChannelStates(ctx, []protocol.ChannelResponse{state("team:a", "e", 2), state("team:b", "e", 1), state("team:c", "e", 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := shown(t, db); !slices.Equal(got, []string{"team:a", "team:c"}) {
		t.Fatalf("shown after the reset = %v, want team:a and team:c", got)
	}
	// A feed event after the reset's head applies (the new epoch's seqs
	// start low).
	apply(t, db, feedEvent(protocol.EventChannelVisible, "team:b", 3))
	if got := shown(t, db); !slices.Equal(got, []string{"team:a", "team:b", "team:c"}) {
		t.Fatalf("shown after channel.visible = %v, want all", got)
	}
}
