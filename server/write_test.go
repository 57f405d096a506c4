package server_test

import (
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

// TestWrite_AloneAndInBatchCheckedAlike: a write is checked by one plan
// whether it comes alone or as an op of a batch, so each refused write
// below gets the same status and code both ways.
func TestWrite_AloneAndInBatchCheckedAlike(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general").Channel.CID
	sendMsg(t, ts, "alice", cid, "m1", "hello")
	createChannel(t, ts, "carol", "secret")
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		op           protocol.BatchOp
	}{
		{"send without text", "POST", "/channels/" + cid + "/messages",
			protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "x1"}},
			batchOp(protocol.OpSendMessage, "", cid, "", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "x1"}})},
		{"send to a channel of others", "POST", "/channels/team:secret/messages",
			protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "x2", Text: "hi"}},
			batchOp(protocol.OpSendMessage, "", "team:secret", "", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "x2", Text: "hi"}})},
		{"edit of no message", "PUT", "/messages/nope", protocol.UpdateMessageRequest{Text: "x"},
			batchOp(protocol.OpUpdateMessage, "k1", "", "nope", protocol.UpdateMessageRequest{Text: "x"})},
		{"reaction without a type", "POST", "/messages/m1/reactions", protocol.SendReactionRequest{},
			batchOp(protocol.OpSendReaction, "k2", "", "m1", protocol.SendReactionRequest{})},
		{"unreaction never made", "DELETE", "/messages/m1/reactions/like", nil,
			batchOp(protocol.OpDeleteReaction, "k3", "", "m1", protocol.DeleteReactionBody{Type: "like"})},
		{"read of a malformed message id", "POST", "/channels/" + cid + "/read", protocol.MarkReadRequest{MessageID: "no such id!"},
			batchOp(protocol.OpMarkRead, "k4", cid, "", protocol.MarkReadRequest{MessageID: "no such id!"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alone := ts.call(t, "alice", tc.method, tc.path, tc.body, nil)
			if alone == nil {
				t.Fatalf("%s %s was applied, want it refused", tc.method, tc.path)
			}
			var resp protocol.BatchResponse
			ts.must(t, "alice", "POST", protocol.PathBatch, protocol.BatchRequest{Ops: []protocol.BatchOp{tc.op}}, &resp)
			if len(resp.Results) != 1 || resp.Results[0].Error == nil {
				t.Fatalf("batch results = %+v, want one refusal", resp.Results)
			}
			got := resp.Results[0].Error
			if got.StatusCode != alone.StatusCode || got.Code != alone.Code {
				t.Errorf("in a batch: status %d code %d (%s); alone: status %d code %d (%s)",
					got.StatusCode, got.Code, got.Message, alone.StatusCode, alone.Code, alone.Message)
			}
		})
	}
}
