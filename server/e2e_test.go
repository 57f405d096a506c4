package server_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServer_EndToEnd: two members exchange messages, reactions, edits,
// deletes and reads; a third user gets nothing of it over REST, WebSocket
// or sync.
func TestServer_EndToEnd(t *testing.T) {
	ts := startServer(t, nil)
	ch := createChannel(t, ts, "alice", "general", "bob")
	cid := ch.Channel.CID
	if len(ch.Members) != 2 || ch.Channel.Version == 0 {
		t.Fatalf("created channel = %+v", ch)
	}
	bob := ts.dial(t, "bob")
	carol := ts.dial(t, "carol")

	m := sendMsg(t, ts, "alice", cid, "m1", "hello bob")
	if ev := bob.next(t); ev.Type != protocol.EventMessageNew || ev.Message.ID != "m1" || ev.Seq != m.Version ||
		ev.CID != cid || ev.Epoch != ch.Position.Epoch {
		t.Fatalf("bob got %+v", ev)
	}
	var rr protocol.ReactionResponse
	ts.must(t, "bob", "POST", "/messages/m1/reactions", protocol.SendReactionRequest{Type: "like"}, &rr)
	if rr.Message.ReactionCounts["like"] != 1 {
		t.Errorf("reaction counts = %v", rr.Message.ReactionCounts)
	}
	var mr protocol.MessageResponse
	ts.must(t, "alice", "PUT", "/messages/m1", protocol.UpdateMessageRequest{Text: "hello, bob"}, &mr)
	if mr.Message.Text != "hello, bob" || mr.Message.Version <= m.Version {
		t.Errorf("update = %+v", mr.Message)
	}
	if ae := ts.call(t, "bob", "PUT", "/messages/m1", protocol.UpdateMessageRequest{Text: "hijack"}, nil); ae == nil || ae.Code != protocol.CodeNotAllowed {
		t.Errorf("bob edited alice's message: %v", ae)
	}
	var rd protocol.ReadResponse
	ts.must(t, "bob", "POST", "/channels/"+cid+"/read", protocol.MarkReadRequest{MessageID: "m1"}, &rd)
	sendMsg(t, ts, "bob", cid, "m2", "bye")
	ts.must(t, "bob", "DELETE", "/messages/m2", nil, &mr)
	if mr.Message.DeletedAt == nil {
		t.Error("soft delete has no deleted_at")
	}
	ts.must(t, "bob", "DELETE", "/messages/m2?hard=true", nil, &mr)

	want := []protocol.EventType{protocol.EventReactionNew, protocol.EventMessageUpdated, protocol.EventMessageRead,
		protocol.EventMessageNew, protocol.EventMessageDeleted, protocol.EventMessageDeleted}
	for _, typ := range want {
		if ev := bob.next(t); ev.Type != typ {
			t.Fatalf("bob got %s, want %s", ev.Type, typ)
		}
	}

	// Sync returns the whole history in order, seqs 1..n without gaps.
	evs, _ := syncAll(t, ts, "bob", []string{cid}, 3)
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: %v", i, ev.Seq, evs)
		}
	}

	// Carol, not a member, gets nothing.
	carol.none(t, 50*time.Millisecond)
	if ae := ts.call(t, "carol", "GET", "/channels/"+cid, nil, nil); ae == nil || ae.Code != protocol.CodeNotAllowed {
		t.Errorf("carol read the channel: %v", ae)
	}
	if ae := ts.call(t, "carol", "GET", "/channels/"+cid+"/messages", nil, nil); ae == nil || ae.Code != protocol.CodeNotAllowed {
		t.Errorf("carol paged messages: %v", ae)
	}
	if ae := ts.call(t, "carol", "POST", "/channels/"+cid+"/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "c1", Text: "hi"}}, nil); ae == nil || ae.Code != protocol.CodeNotAllowed {
		t.Errorf("carol wrote to the channel: %v", ae)
	}
	if ae := ts.call(t, "carol", "POST", "/messages/m1/reactions", protocol.SendReactionRequest{Type: "like"}, nil); ae == nil || ae.Code != protocol.CodeNotFound {
		t.Errorf("carol reacted: %v", ae)
	}
	cevs, inacc := syncAll(t, ts, "carol", []string{cid}, 0)
	if len(cevs) != 0 || len(inacc) != 1 || inacc[0] != cid {
		t.Errorf("carol's sync = %d events, inaccessible %v", len(cevs), inacc)
	}
	var q protocol.QueryChannelsResponse
	ts.must(t, "carol", "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{}, &q)
	if len(q.Channels) != 0 {
		t.Errorf("carol's channels = %v", q.Channels)
	}
	ts.must(t, "bob", "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{}, &q)
	if len(q.Channels) != 1 || len(q.Channels[0].Messages) != 1 || q.SyncedAt.IsZero() {
		t.Errorf("bob's channels = %+v", q)
	}
}
