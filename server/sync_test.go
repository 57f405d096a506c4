package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// TestSync_PagesLoseAndRepeatNothing pages through a history at several
// page sizes, and resumes from the positions of every page (as a client
// that crashed after committing that page would): no event is ever lost,
// none repeated, and every channel's events come in seq order.
func TestSync_PagesLoseAndRepeatNothing(t *testing.T) {
	ts := startServer(t, nil)
	cids := []string{}
	for i := 0; i < 3; i++ {
		cids = append(cids, createChannel(t, ts, "alice", fmt.Sprintf("c%d", i), "bob").Channel.CID)
	}
	for i := 0; i < 60; i++ {
		sendMsg(t, ts, "alice", cids[i%3], fmt.Sprintf("m%02d", i), "x")
	}
	full, _ := syncAll(t, ts, "bob", cids, 1000)
	if len(full) != 3+6+60 { // created + 2 members each + messages
		t.Fatalf("full sync = %d events", len(full))
	}
	checkLogOrder(t, full)
	for _, limit := range []int{1, 2, 7, 50} {
		paged, _ := syncAll(t, ts, "bob", cids, limit)
		if len(paged) != len(full) {
			t.Fatalf("limit %d: %d events, want %d", limit, len(paged), len(full))
		}
		for i := range paged {
			if paged[i].ID != full[i].ID {
				t.Fatalf("limit %d: event %d differs", limit, i)
			}
		}
	}
	// Resume after each page from the positions it reached.
	pos := map[string]protocol.Position{}
	for _, cid := range cids {
		pos[cid] = protocol.Position{Epoch: epochOf(t, ts, "bob", cid)}
	}
	seen := map[string]bool{}
	for page := 0; ; page++ {
		var resp protocol.SyncResponse
		req := protocol.SyncRequest{Version: protocol.Version, Limit: 5}
		for _, cid := range cids {
			req.Channels = append(req.Channels, protocol.ChannelPosition{CID: cid, Position: pos[cid]})
		}
		ts.must(t, "bob", "POST", protocol.PathSync, req, &resp)
		if len(resp.Events) > 5 {
			t.Fatalf("page %d has %d events, over the limit", page, len(resp.Events))
		}
		for _, ev := range resp.Events {
			if seen[ev.ID] {
				t.Fatalf("event %s repeated", ev.ID)
			}
			seen[ev.ID] = true
		}
		for _, cs := range resp.Channels {
			if cs.Status != protocol.ChannelOK {
				t.Fatalf("page %d: %+v", page, cs)
			}
			pos[cs.CID] = *cs.Position
		}
		rest := syncFrom(t, ts, "bob", nil, pos, 1000)
		if got := len(seen) + len(rest.events); got != len(full) {
			t.Fatalf("resuming after page %d: %d events, want %d", page, got, len(full))
		}
		if !resp.More {
			break
		}
	}
	if len(seen) != len(full) {
		t.Fatalf("paged walk saw %d events, want %d", len(seen), len(full))
	}
}

// checkLogOrder checks that each channel's events come in seq order from
// where they start, with no gap and no repeat.
func checkLogOrder(tb testing.TB, evs []protocol.Event) {
	tb.Helper()
	last := map[string]int64{}
	for _, ev := range evs {
		if prev, ok := last[ev.CID]; ok && ev.Seq != prev+1 {
			tb.Fatalf("%s: seq %d after %d", ev.CID, ev.Seq, prev)
		}
		if ev.Epoch == "" {
			tb.Fatalf("%s seq %d has no epoch", ev.CID, ev.Seq)
		}
		last[ev.CID] = ev.Seq
	}
}

// TestSync_WriteInFlightIsNotSkipped holds a write open while a sync runs:
// the sync's positions stop before it, so the next sync from them returns
// the write's event once it commits.
func TestSync_WriteInFlightIsNotSkipped(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob").Channel.CID
	before := syncFrom(t, ts, "bob", nil, map[string]protocol.Position{cid: {Epoch: epochOf(t, ts, "bob", cid)}}, 0)

	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ts.store.Update(context.Background(), func(tx server.Tx) error {
			pos, err := tx.NextPosition(cid, "ev-slow")
			if err != nil {
				return err
			}
			m := protocol.Message{ID: "slow", CID: cid, UserID: "alice", Text: "in flight", CreatedAt: tx.Now(), Version: pos.Seq}
			if err := tx.PutMessage(m); err != nil {
				return err
			}
			inside <- struct{}{}
			<-release
			return tx.AppendEvent(protocol.Event{ID: "ev-slow", Type: protocol.EventMessageNew, CID: cid, Seq: pos.Seq, Epoch: pos.Epoch,
				CreatedAt: tx.Now(), Message: &m})
		})
	}()
	<-inside
	mid := syncFrom(t, ts, "bob", &before.feedPos, before.positions, 0)
	if len(mid.events) != 0 {
		t.Fatalf("sync saw %d uncommitted events", len(mid.events))
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	after := syncFrom(t, ts, "bob", &mid.feedPos, mid.positions, 0)
	if len(after.events) != 1 || after.events[0].ID != "ev-slow" {
		t.Fatalf("after commit, sync from the positions = %v, want the in-flight event", after.events)
	}
}

// TestSync_PositionTooOld: a last_sync_at past the retention window is a
// 410 with code 60, whatever the positions; a zero one is the first sync.
func TestSync_PositionTooOld(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.Retention = time.Hour })
	cid := createChannel(t, ts, "alice", "general", "bob").Channel.CID
	req := protocol.SyncRequest{Version: protocol.Version, LastSyncAt: time.Now().Add(-2 * time.Hour),
		Channels: []protocol.ChannelPosition{{CID: cid}}}
	ae := ts.call(t, "bob", "POST", protocol.PathSync, req, nil)
	if ae == nil || ae.Code != protocol.CodeSyncPositionTooOld || ae.StatusCode != 410 {
		t.Fatalf("sync past the window = %v, want code 60 / 410", ae)
	}
	req.LastSyncAt = time.Now().Add(-time.Minute)
	ts.must(t, "bob", "POST", protocol.PathSync, req, nil)
}

func TestSync_EphemeralEventsAreLiveOnly(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob").Channel.CID
	bob := ts.dial(t, "bob")
	ts.must(t, "alice", "POST", "/channels/"+cid+"/events", protocol.SendEventRequest{Type: protocol.EventTypingStart}, nil)
	if ev := bob.next(t); ev.Type != protocol.EventTypingStart || ev.UserID != "alice" {
		t.Fatalf("bob got %+v, want typing.start", ev)
	}
	evs, _ := syncAll(t, ts, "bob", []string{cid}, 0)
	for _, ev := range evs {
		if ev.Type.IsEphemeral() {
			t.Errorf("sync returned ephemeral %s", ev.Type)
		}
	}
	if ae := ts.call(t, "alice", "POST", "/channels/"+cid+"/events", protocol.SendEventRequest{Type: protocol.EventMessageNew}, nil); ae == nil || ae.Code != protocol.CodeInput {
		t.Errorf("a stored event type was accepted as ephemeral: %v", ae)
	}
}

// TestWrites_Idempotent: the same send twice, and twenty at once, make one
// message and one event; an Idempotency-Key makes a repeated edit a no-op.
func TestWrites_Idempotent(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general").Channel.CID
	first := sendMsg(t, ts, "alice", cid, "same", "once")
	again := sendMsg(t, ts, "alice", cid, "same", "once")
	if again.Version != first.Version || !again.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("repeat returned %+v, want the stored %+v", again, first)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp protocol.MessageResponse
			if ae := ts.call(t, "alice", "POST", "/channels/"+cid+"/messages",
				protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "burst", Text: "x"}}, &resp); ae != nil {
				t.Errorf("concurrent send: %v", ae)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 2; i++ {
		ts.must(t, "alice", "PUT", "/messages/same", protocol.UpdateMessageRequest{Text: "edited"}, nil, protocol.HeaderIdempotencyKey, "edit-1")
	}
	evs, _ := syncAll(t, ts, "alice", []string{cid}, 0)
	count := map[protocol.EventType]int{}
	for _, ev := range evs {
		count[ev.Type]++
	}
	if count[protocol.EventMessageNew] != 2 || count[protocol.EventMessageUpdated] != 1 {
		t.Errorf("events = %v, want 2 message.new and 1 message.updated", count)
	}
	if ae := ts.call(t, "bob", "POST", "/channels/"+cid+"/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "same", Text: "x"}}, nil); ae == nil {
		t.Error("a non-member reused a message id")
	}
}

// TestHub_SlowConsumerIsCutOff: a client that reads nothing is closed
// with a policy violation once its buffer is full, and others still get
// every event.
func TestHub_SlowConsumerIsCutOff(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.SendBuffer = 16 })
	cid := createChannel(t, ts, "alice", "general", "bob", "carol").Channel.CID
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + ts.URL[len("http"):] + protocol.PathConnect + "?token=" + tokenFor(t, "carol")
	slow, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	slow.SetReadLimit(1 << 20)
	bob := ts.dial(t, "bob")
	// Frames big enough that the kernel's socket buffers fill up and the
	// server's writer to carol blocks.
	const n = 200
	big := strings.Repeat("x", protocol.MaxTextBytes-1)
	for i := 0; i < n; i++ {
		sendMsg(t, ts, "alice", cid, fmt.Sprintf("m%03d", i), big)
	}
	for i := 0; i < n; i++ {
		if ev := bob.next(t); ev.Message == nil || ev.Message.ID != fmt.Sprintf("m%03d", i) {
			t.Fatalf("bob's event %d = %+v", i, ev)
		}
	}
	// Carol now reads: what was queued before the cut, then the end. The
	// close frame itself may not get through her full socket buffers, in
	// which case the server cuts the connection after the close
	// handshake's timeout: either way she must not get every message.
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	got := 0
	for {
		_, data, err := slow.Read(rctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != -1 && st != websocket.StatusPolicyViolation {
				t.Fatalf("slow consumer closed with %v (%v), want policy violation or a cut", st, err)
			}
			if rctx.Err() != nil {
				t.Fatal("the slow consumer was never cut off")
			}
			break
		}
		if strings.Contains(string(data), `"message.new"`) {
			got++
		}
	}
	if got >= n {
		t.Fatalf("the slow consumer got all %d messages: it was never cut off", n)
	}
}
