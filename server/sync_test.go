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

// TestSync_PagesLoseAndRepeatNothing pages through a history with the
// server clock frozen (so every event is stamped within microseconds of
// the others) at several page sizes, and resumes from every page's
// checkpoint: no event is ever lost, and a full walk repeats none.
func TestSync_PagesLoseAndRepeatNothing(t *testing.T) {
	ts := startServer(t, nil)
	frozen := time.Now().UTC().Truncate(time.Second)
	ts.clock.Set(frozen)
	cids := []string{}
	for i := 0; i < 3; i++ {
		cids = append(cids, createChannel(t, ts, "alice", fmt.Sprintf("c%d", i), "bob").Channel.CID)
	}
	for i := 0; i < 60; i++ {
		sendMsg(t, ts, "alice", cids[i%3], fmt.Sprintf("m%02d", i), "x")
	}
	since := frozen.Add(-time.Second)
	full, _, _ := syncAll(t, ts, "bob", cids, since, 1000)
	if len(full) != 3+6+60 { // created + 2 members each + messages
		t.Fatalf("full sync = %d events", len(full))
	}
	ids := map[string]bool{}
	for _, ev := range full {
		if ids[ev.ID] {
			t.Fatalf("event %s repeated", ev.ID)
		}
		ids[ev.ID] = true
	}
	for _, limit := range []int{1, 2, 7, 50} {
		paged, _, _ := syncAll(t, ts, "bob", cids, since, limit)
		if len(paged) != len(full) {
			t.Fatalf("limit %d: %d events, want %d", limit, len(paged), len(full))
		}
		for i := range paged {
			if paged[i].ID != full[i].ID {
				t.Fatalf("limit %d: event %d differs", limit, i)
			}
		}
	}
	// Resume from each page's checkpoint, as a client that crashed after
	// committing that page would: the rest must all come back.
	cursor := ""
	seen := map[string]bool{}
	for {
		var resp protocol.SyncResponse
		ts.must(t, "bob", "POST", protocol.PathSync, protocol.SyncRequest{ChannelCIDs: cids, LastSyncAt: since, Limit: 5, Cursor: cursor}, &resp)
		for _, ev := range resp.Events {
			seen[ev.ID] = true
		}
		rest, _, _ := syncAll(t, ts, "bob", cids, resp.SyncedAt, 1000)
		got := map[string]bool{}
		for id := range seen {
			got[id] = true
		}
		for _, ev := range rest {
			got[ev.ID] = true
		}
		if len(got) != len(full) {
			t.Fatalf("resuming from checkpoint %v lost %d events", resp.SyncedAt, len(full)-len(got))
		}
		if resp.NextCursor == "" {
			break
		}
		cursor = resp.NextCursor
	}
}

// TestSync_WriteInFlightIsNotSkipped holds a write open while a sync runs:
// the checkpoint handed out must be before the write's time, so the next
// sync from it returns the write's event.
func TestSync_WriteInFlightIsNotSkipped(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob").Channel.CID
	start := time.Now().Add(-time.Minute)
	_, checkpoint, _ := syncAll(t, ts, "bob", []string{cid}, start, 0)

	inside, release := make(chan time.Time), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ts.store.Update(context.Background(), func(tx server.Tx) error {
			seq, err := tx.NextSeq(cid)
			if err != nil {
				return err
			}
			m := protocol.Message{ID: "slow", CID: cid, UserID: "alice", Text: "in flight", CreatedAt: tx.Now(), Version: seq}
			if err := tx.PutMessage(m); err != nil {
				return err
			}
			inside <- tx.Now()
			<-release
			return tx.AppendEvent(protocol.Event{ID: "ev-slow", Type: protocol.EventMessageNew, CID: cid, Seq: seq, CreatedAt: tx.Now(), Message: &m})
		})
	}()
	stamp := <-inside
	evs, mid, _ := syncAll(t, ts, "bob", []string{cid}, checkpoint, 0)
	if len(evs) != 0 {
		t.Fatalf("sync saw %d uncommitted events", len(evs))
	}
	if !mid.Before(stamp) {
		t.Fatalf("checkpoint %v is not before the in-flight write at %v", mid, stamp)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs, _, _ = syncAll(t, ts, "bob", []string{cid}, mid, 0)
	if len(evs) != 1 || evs[0].ID != "ev-slow" {
		t.Fatalf("after commit, sync from the checkpoint = %v, want the in-flight event", evs)
	}
}

func TestSync_PositionTooOldAndHistoryLost(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.Retention = time.Hour; c.MaxEventsPerChannel = 5 })
	cid := createChannel(t, ts, "alice", "general", "bob").Channel.CID
	since := time.Now().Add(-time.Minute)
	ae := ts.call(t, "bob", "POST", protocol.PathSync, protocol.SyncRequest{ChannelCIDs: []string{cid}, LastSyncAt: time.Now().Add(-2 * time.Hour)}, nil)
	if ae == nil || ae.Code != protocol.CodeSyncPositionTooOld || ae.StatusCode != 410 {
		t.Fatalf("sync past the window = %v, want code 60 / 410", ae)
	}
	var last protocol.Message
	for i := 0; i < 10; i++ {
		last = sendMsg(t, ts, "alice", cid, fmt.Sprintf("m%d", i), "x")
	}
	if n := ts.srv.Prune(context.Background()); n == 0 {
		t.Fatal("nothing pruned past the per-channel bound")
	}
	ae = ts.call(t, "bob", "POST", protocol.PathSync, protocol.SyncRequest{ChannelCIDs: []string{cid}, LastSyncAt: since}, nil)
	if ae == nil || ae.Code != protocol.CodeSyncHistoryLost {
		t.Fatalf("sync over pruned history = %v, want code 61", ae)
	}
	// A position later than anything the server gave out: its log was
	// restored, or its clock went back. Serving it would skip the events
	// stamped before it from now on.
	ae = ts.call(t, "bob", "POST", protocol.PathSync, protocol.SyncRequest{ChannelCIDs: []string{cid}, LastSyncAt: time.Now().Add(time.Hour)}, nil)
	if ae == nil || ae.Code != protocol.CodeSyncHistoryLost {
		t.Fatalf("sync from a future position = %v, want code 61", ae)
	}
	// A position after the pruned events is still served.
	_, now, _ := syncAll(t, ts, "bob", []string{cid}, last.CreatedAt, 0)
	sendMsg(t, ts, "alice", cid, "late", "x")
	if evs, _, _ := syncAll(t, ts, "bob", []string{cid}, now, 0); len(evs) != 1 {
		t.Errorf("sync after pruning = %d events, want 1", len(evs))
	}
}

func TestSync_EphemeralEventsAreLiveOnly(t *testing.T) {
	ts := startServer(t, nil)
	since := time.Now().Add(-time.Minute)
	cid := createChannel(t, ts, "alice", "general", "bob").Channel.CID
	bob := ts.dial(t, "bob")
	ts.must(t, "alice", "POST", "/channels/"+cid+"/events", protocol.SendEventRequest{Type: protocol.EventTypingStart}, nil)
	if ev := bob.next(t); ev.Type != protocol.EventTypingStart || ev.UserID != "alice" {
		t.Fatalf("bob got %+v, want typing.start", ev)
	}
	evs, _, _ := syncAll(t, ts, "bob", []string{cid}, since, 0)
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
	since := time.Now().Add(-time.Minute)
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
	evs, _, _ := syncAll(t, ts, "alice", []string{cid}, since, 0)
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
	big := strings.Repeat("x", server.MaxTextBytes-1)
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
