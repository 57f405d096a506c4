package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

func batchOp(typ protocol.BatchOpType, key, cid, messageID string, body any) protocol.BatchOp {
	data, _ := json.Marshal(body)
	return protocol.BatchOp{Type: typ, Key: key, CID: cid, MessageID: messageID, Body: data}
}

func sendOp(cid, id, text string) protocol.BatchOp {
	return batchOp(protocol.OpSendMessage, "", cid, "", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: text}})
}

// TestBatch_AppliesInOrderWithPerOpResults: a batch of every op type
// applies in order, as the single writes would; a refused op gets its own
// error and the ops after it still apply; the events reach members live
// and in the log in op order.
func TestBatch_AppliesInOrderWithPerOpResults(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob").Channel.CID
	createChannel(t, ts, "carol", "secret")
	sendMsg(t, ts, "bob", cid, "bobs", "bob's message")
	bob := ts.dial(t, "bob")

	req := protocol.BatchRequest{Ops: []protocol.BatchOp{
		sendOp(cid, "b1", "first"),
		batchOp(protocol.OpUpdateMessage, "k-edit", "", "b1", protocol.UpdateMessageRequest{Text: "first, edited"}),
		batchOp(protocol.OpSendReaction, "k-like", "", "b1", protocol.SendReactionRequest{Type: "like"}),
		sendOp("team:secret", "b2", "not a member"),                                                            // 403
		batchOp(protocol.OpUpdateMessage, "k-hijack", "", "bobs", protocol.UpdateMessageRequest{Text: "mine"}), // 403
		batchOp(protocol.OpSendMessage, "", cid, "", map[string]any{"message": map[string]any{"id": "b3"}}),    // empty text: 400
		{Type: "explode", Body: json.RawMessage(`{}`)},                                                         // 400
		sendOp(cid, "b4", "second"),
		batchOp(protocol.OpDeleteReaction, "k-unlike", "", "b1", protocol.DeleteReactionBody{Type: "like"}),
		batchOp(protocol.OpDeleteMessage, "k-del", "", "b4", protocol.DeleteMessageBody{}),
		batchOp(protocol.OpMarkRead, "k-read", cid, "", protocol.MarkReadRequest{MessageID: "b1"}),
	}}
	var resp protocol.BatchResponse
	ts.must(t, "alice", "POST", protocol.PathBatch, req, &resp)
	wantStatus := []int{201, 200, 201, 403, 403, 400, 400, 201, 200, 200, 200}
	if len(resp.Results) != len(wantStatus) {
		t.Fatalf("%d results, want %d", len(resp.Results), len(wantStatus))
	}
	for i, r := range resp.Results {
		if r.Status != wantStatus[i] {
			t.Errorf("op %d: status %d (%+v), want %d", i, r.Status, r.Error, wantStatus[i])
		}
		if (r.Status >= 400) != (r.Error != nil) {
			t.Errorf("op %d: status %d with error %v", i, r.Status, r.Error)
		}
	}
	if m := resp.Results[1].Message; m == nil || m.Text != "first, edited" {
		t.Errorf("edit result = %+v", m)
	}
	if r := resp.Results[2]; r.Reaction == nil || r.Message == nil || r.Message.ReactionCounts["like"] != 1 {
		t.Errorf("reaction result = %+v", r)
	}
	if a, b := resp.Results[0].Message, resp.Results[7].Message; a == nil || b == nil || a.Version >= b.Version {
		t.Errorf("messages of one batch are not in op order: %+v, %+v", a, b)
	}
	if r := resp.Results[10]; r.Read == nil || r.Read.LastReadMessageID != "b1" {
		t.Errorf("read result = %+v", r)
	}

	wantTypes := []protocol.EventType{protocol.EventMessageNew, protocol.EventMessageUpdated, protocol.EventReactionNew,
		protocol.EventMessageNew, protocol.EventReactionDeleted, protocol.EventMessageDeleted, protocol.EventMessageRead}
	for i, typ := range wantTypes {
		if ev := bob.next(t); ev.Type != typ {
			t.Fatalf("live event %d: %s, want %s", i, ev.Type, typ)
		}
	}
	events, _ := syncAll(t, ts, "alice", []string{cid}, 0)
	var got []protocol.EventType
	for _, ev := range events {
		if ev.Message == nil || ev.Message.ID != "bobs" {
			got = append(got, ev.Type)
		}
	}
	got = got[len(got)-len(wantTypes):]
	for i := range wantTypes {
		if got[i] != wantTypes[i] {
			t.Fatalf("log order = %v, want it to end with %v", got, wantTypes)
		}
	}
}

// TestBatch_RepeatIsIdempotent: a batch repeated whole (its reply was
// lost) changes nothing and answers as before; an op first sent alone
// with an Idempotency-Key and then in a batch is applied once.
func TestBatch_RepeatIsIdempotent(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general").Channel.CID
	sendMsg(t, ts, "alice", cid, "m1", "hello")
	var single protocol.ReactionResponse
	ts.must(t, "alice", "POST", "/messages/m1/reactions", protocol.SendReactionRequest{Type: "like"}, &single, protocol.HeaderIdempotencyKey, "k-like")

	req := protocol.BatchRequest{Ops: []protocol.BatchOp{
		batchOp(protocol.OpSendReaction, "k-like", "", "m1", protocol.SendReactionRequest{Type: "like"}),
		sendOp(cid, "m2", "again"),
		batchOp(protocol.OpUpdateMessage, "k-edit", "", "m2", protocol.UpdateMessageRequest{Text: "again, edited"}),
	}}
	var first, second protocol.BatchResponse
	ts.must(t, "alice", "POST", protocol.PathBatch, req, &first)
	before, _ := syncAll(t, ts, "alice", []string{cid}, 0)
	ts.must(t, "alice", "POST", protocol.PathBatch, req, &second)
	after, _ := syncAll(t, ts, "alice", []string{cid}, 0)
	if len(after) != len(before) {
		t.Fatalf("repeat added %d events", len(after)-len(before))
	}
	if r := first.Results[0]; r.Reaction == nil || r.Reaction.Version != single.Reaction.Version {
		t.Errorf("reaction sent alone then in a batch: %+v, want the stored %+v", r.Reaction, single.Reaction)
	}
	for i := range first.Results {
		if req.Ops[i].Key == "" {
			// A repeated send answers with the message as it is now,
			// as a repeated single send does.
			if r := second.Results[i]; r.Status != 201 || r.Message == nil || r.Message.ID != "m2" {
				t.Errorf("repeated send = %+v", r)
			}
			continue
		}
		a, _ := json.Marshal(first.Results[i])
		b, _ := json.Marshal(second.Results[i])
		if string(a) != string(b) {
			t.Errorf("op %d answered differently on repeat:\n%s\n%s", i, a, b)
		}
	}
}

// TestBatch_BadBatches: an empty batch, an oversized one and broken JSON
// are 400s with nothing applied.
func TestBatch_BadBatches(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general").Channel.CID
	big := protocol.BatchRequest{}
	for i := range protocol.MaxBatchOps + 1 {
		big.Ops = append(big.Ops, sendOp(cid, "x"+strings.Repeat("y", i%3)+string(rune('a'+i%26)), "hi"))
	}
	for name, body := range map[string]any{
		"empty":     protocol.BatchRequest{},
		"too many":  big,
		"not json":  `{"ops":[`,
		"ops typed": `{"ops":{"type":"send-message"}}`,
	} {
		ae := ts.call(t, "alice", "POST", protocol.PathBatch, body, nil)
		if ae == nil || ae.StatusCode != 400 {
			t.Errorf("%s: %v, want 400", name, ae)
		}
	}
	if events, _ := syncAll(t, ts, "alice", []string{cid}, 0); len(events) != 2 { // created + member added
		t.Errorf("bad batches applied something: %d events", len(events))
	}
}

// TestFanoutInCommitOrder: writers racing on one channel; a member's
// WebSocket gets the channel's events in sequence order, with no gaps.
func TestFanoutInCommitOrder(t *testing.T) {
	// Every publish comes (none fails here), so a long reorder wait holds
	// an early event until the one before it is published, however late
	// a loaded machine runs that publish.
	ts := startServer(t, func(c *server.Config) { c.ReorderWait = time.Minute })
	cid := createChannel(t, ts, "alice", "race", "bob").Channel.CID
	bob := ts.dial(t, "bob")
	const writers, each = 6, 20
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				sendMsg(t, ts, "alice", cid, fmt.Sprintf("w%d-%d", w, i), "x")
			}
		}()
	}
	for range writers {
		<-done
	}
	var last int64
	for range writers * each {
		ev := bob.next(t)
		if last != 0 && ev.Seq != last+1 {
			t.Fatalf("bob got seq %d after %d", ev.Seq, last)
		}
		last = ev.Seq
	}
}
