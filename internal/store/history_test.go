package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

const histCID = "team:hist"

// histDB is a store holding channel histCID at seq 100 with its messages
// 90 and 100, and that state.
func histDB(tb testing.TB) (*store.DB, protocol.ChannelResponse) {
	tb.Helper()
	db := openTestDB(tb)
	st := protocol.ChannelResponse{Channel: protocol.Channel{CID: histCID, Type: "team", ID: "hist", Version: 1},
		Messages: []protocol.Message{histMsg(90), histMsg(100)}, Position: &protocol.Position{Epoch: "e1", Seq: 100}}
	if err := db.ApplyChannelStates(context.Background(), []protocol.ChannelResponse{st}, nil); err != nil {
		tb.Fatal(err)
	}
	return db, st
}

func histMsg(seq int64) protocol.Message {
	at := time.Unix(0, 0).Add(time.Duration(seq) * time.Second).UTC()
	return protocol.Message{ID: fmt.Sprintf("m%03d", seq), CID: histCID, UserID: "u", Text: "t",
		Seq: seq, Version: seq, CreatedAt: at, UpdatedAt: at}
}

func histPage(from, to, at int64, seqs ...int64) *protocol.HistoryPage {
	p := &protocol.HistoryPage{Status: protocol.ChannelOK, Kind: protocol.HistoryMessages,
		Position: &protocol.Position{Epoch: "e1", Seq: at}, From: from, To: to}
	for _, s := range seqs {
		p.Messages = append(p.Messages, histMsg(s))
	}
	return p
}

func histIDs(tb testing.TB, db *store.DB) []string {
	tb.Helper()
	ms, err := db.Messages(context.Background(), histCID, offlinedb.MessagesQuery{Limit: 1000, IncludeDeleted: true})
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestApplyHistoryPage_JoinsTheHeldRangeExactly(t *testing.T) {
	ctx := context.Background()
	db, st := histDB(t)
	held := func() offlinedb.Held {
		h, err := db.HeldHistory(ctx, histCID)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := held(); h.From != 90 || h.To != 100 || h.Complete() || h.Messages != 2 {
		t.Fatalf("after the state: %+v, want 90..100, 2 messages", h)
	}

	// A page that leaves a hole is not stored.
	if res, err := db.ApplyHistoryPage(ctx, histCID, histPage(50, 80, 100, 60)); err != nil || res.Stored {
		t.Fatalf("a page with a hole: %+v, %v; want not stored", res, err)
	}
	if res, err := db.ApplyHistoryPage(ctx, histCID, histPage(60, 89, 100, 60, 70, 89)); err != nil || !res.Stored || res.Held.From != 60 {
		t.Fatalf("a joined page: %+v, %v; want stored, from 60", res, err)
	}
	// A later read of the same range without 70: it was deleted.
	if _, err := db.ApplyHistoryPage(ctx, histCID, histPage(60, 89, 105, 60, 89)); err != nil {
		t.Fatal(err)
	}
	// The older page again: 70 stays gone.
	if _, err := db.ApplyHistoryPage(ctx, histCID, histPage(60, 89, 100, 60, 70, 89)); err != nil {
		t.Fatal(err)
	}
	if got, want := histIDs(t, db), []string{"m060", "m089", "m090", "m100"}; !slices.Equal(got, want) {
		t.Fatalf("held %v, want %v", got, want)
	}
	// Down to the start.
	if res, err := db.ApplyHistoryPage(ctx, histCID, histPage(1, 59, 100)); err != nil || !res.Held.Complete() {
		t.Fatalf("the last page: %+v, %v; want complete", res, err)
	}
	ch, err := db.Channel(ctx, histCID)
	if err != nil || !ch.HistoryComplete {
		t.Fatalf("channel %+v, %v; want HistoryComplete", ch, err)
	}

	// A stale state changes neither the position nor the held rows.
	stale := st
	stale.Messages = []protocol.Message{histMsg(70), histMsg(90)}
	stale.Position = &protocol.Position{Epoch: "e1", Seq: 95}
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{stale}, nil); err != nil {
		t.Fatal(err)
	}
	if h := held(); h.From != 1 || h.To != 100 {
		t.Fatalf("after a stale state: %+v, want 1..100", h)
	}
	if got := histIDs(t, db); len(got) != 4 {
		t.Fatalf("after a stale state: %v", got)
	}

	// Another epoch: the channel's state must be fetched again.
	other := histPage(1, 10, 5)
	other.Position.Epoch = "e2"
	if res, err := db.ApplyHistoryPage(ctx, histCID, other); err != nil || !res.NeedState || res.Stored {
		t.Fatalf("a page of another epoch: %+v, %v; want NeedState", res, err)
	}
	// Inaccessible: dropped.
	if res, err := db.ApplyHistoryPage(ctx, histCID, &protocol.HistoryPage{Status: protocol.ChannelInaccessible}); err != nil || !res.Dropped {
		t.Fatalf("an inaccessible page: %+v, %v; want dropped", res, err)
	}
	if _, err := db.HeldHistory(ctx, histCID); err == nil {
		t.Fatal("the dropped channel is still held")
	}
}

// histReaction is userID's reaction typ to the message at seq, made at
// version v.
func histReaction(seq int64, userID, typ string, v int64) protocol.Reaction {
	return protocol.Reaction{MessageID: histMsg(seq).ID, CID: histCID, UserID: userID, Type: typ,
		CreatedAt: at(int(v)), UpdatedAt: at(int(v)), Version: v}
}

func histReactions(tb testing.TB, db *store.DB, seq int64) []string {
	tb.Helper()
	rs, err := db.Reactions(context.Background(), histMsg(seq).ID)
	if err != nil {
		tb.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.UserID+":"+r.Type)
	}
	slices.Sort(got)
	return got
}

// TestApplyChannelStates_PrunedTakesReactionsExactly: a channel whose log
// the server pruned past the store's position takes its state's reactions
// exactly too. A reaction removed among the pruned events is not in the
// state, and no event will ever remove it from the store.
func TestApplyChannelStates_PrunedTakesReactionsExactly(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	st := protocol.ChannelResponse{Channel: protocol.Channel{CID: histCID, Type: "team", ID: "hist", Version: 1},
		Messages:  []protocol.Message{histMsg(90), histMsg(100)},
		Reactions: []protocol.Reaction{histReaction(90, "u1", "love", 95), histReaction(90, "u2", "like", 96)},
		Position:  &protocol.Position{Epoch: "e1", Seq: 100}}
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{st}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplySyncPage(ctx, &protocol.SyncResponse{
		Feed:     protocol.FeedPage{Position: protocol.Position{Epoch: "f", Seq: 1, EventID: "f1"}},
		Channels: []protocol.ChannelSync{{CID: histCID, Status: protocol.ChannelReset, Reason: protocol.ReasonPruned}},
		SyncedAt: at(120),
	}); err != nil {
		t.Fatal(err)
	}
	// u1's love went at seq 110, among the pruned events.
	st.Reactions = []protocol.Reaction{histReaction(90, "u2", "like", 96)}
	st.Position = &protocol.Position{Epoch: "e1", Seq: 120}
	if err := db.ApplyChannelStates(ctx, []protocol.ChannelResponse{st}, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := histReactions(t, db, 90), []string{"u2:like"}; !slices.Equal(got, want) {
		t.Fatalf("reactions after the pruned channel's state = %v, want %v", got, want)
	}
	// An older state's copy does not bring it back.
	old := st
	old.Reactions = []protocol.Reaction{histReaction(90, "u1", "love", 95), histReaction(90, "u2", "like", 96)}
	old.Position = &protocol.Position{Epoch: "e1", Seq: 100}
	if _, err := db.ApplyHistoryPage(ctx, histCID, &protocol.HistoryPage{Status: protocol.ChannelOK, Kind: protocol.HistoryMessages,
		Position: old.Position, From: 90, To: 99, Messages: []protocol.Message{histMsg(90)}, Reactions: old.Reactions}); err != nil {
		t.Fatal(err)
	}
	if got, want := histReactions(t, db, 90), []string{"u2:like"}; !slices.Equal(got, want) {
		t.Fatalf("reactions after an older page = %v, want %v", got, want)
	}
}

// TestApplyHistoryPage_TakesReactionsExactly: a page of history makes the
// reactions of its messages exactly the page's, as of the page's position:
// one added after it (a live event applied meanwhile) stays.
func TestApplyHistoryPage_TakesReactionsExactly(t *testing.T) {
	ctx := context.Background()
	db, _ := histDB(t)
	page := histPage(60, 89, 100, 60)
	page.Reactions = []protocol.Reaction{histReaction(60, "u1", "love", 70), histReaction(60, "u2", "like", 71)}
	if res, err := db.ApplyHistoryPage(ctx, histCID, page); err != nil || !res.Stored {
		t.Fatalf("first page: %+v, %v; want stored", res, err)
	}
	apply(t, db, &protocol.Event{ID: "ev-wow", Type: protocol.EventReactionNew, CID: histCID, Seq: 106, CreatedAt: at(106),
		Reaction: &protocol.Reaction{MessageID: histMsg(60).ID, CID: histCID, UserID: "u3", Type: "wow", Version: 106}})
	// Read again at 105: u1's love went meanwhile; u3's wow is newer.
	page = histPage(60, 89, 105, 60)
	page.Reactions = []protocol.Reaction{histReaction(60, "u2", "like", 71)}
	if _, err := db.ApplyHistoryPage(ctx, histCID, page); err != nil {
		t.Fatal(err)
	}
	if got, want := histReactions(t, db, 60), []string{"u2:like", "u3:wow"}; !slices.Equal(got, want) {
		t.Fatalf("reactions after the second page = %v, want %v", got, want)
	}
}
