package client_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

func TestBatch(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	ctx := testCtx(t)
	send := protocol.BatchOp{Type: protocol.OpSendMessage, CID: "team:a", Body: json.RawMessage(`{"message":{"id":"m1","text":"hi"}}`)}
	react := protocol.BatchOp{Type: protocol.OpSendReaction, Key: "k1", MessageID: "m1", Body: json.RawMessage(`{"type":"like"}`)}

	t.Run("sends the ops and returns the results", func(t *testing.T) {
		want := protocol.BatchResponse{Results: []protocol.BatchResult{
			{Status: 201, Message: &protocol.Message{ID: "m1"}},
			{Status: 404, Error: &protocol.APIError{Code: protocol.CodeNotFound, Message: "gone", StatusCode: 404}},
		}}
		seenCh := recordRoute(fs, "POST /batch", want)
		resp, err := c.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{send, react}})
		if err != nil {
			t.Fatal(err)
		}
		got := <-seenCh
		var sent protocol.BatchRequest
		if err := json.Unmarshal([]byte(got.body), &sent); err != nil || len(sent.Ops) != 2 || sent.Ops[1].Key != "k1" {
			t.Fatalf("sent %s (%v)", got.body, err)
		}
		if resp.Results[0].Message.ID != "m1" || !client.IsPermanent(resp.Results[1].Error) {
			t.Fatalf("results = %+v", resp.Results)
		}
	})
	t.Run("a short answer is a decode error", func(t *testing.T) {
		recordRoute(fs, "POST /batch", protocol.BatchResponse{Results: []protocol.BatchResult{{Status: 201, Message: &protocol.Message{ID: "m1"}}}})
		_, err := c.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{send, react}})
		var de *client.DecodeError
		if !errors.As(err, &de) || !client.IsTemporary(err) {
			t.Fatalf("err = %v, want a temporary DecodeError", err)
		}
	})
	t.Run("a success without its entity is a decode error", func(t *testing.T) {
		recordRoute(fs, "POST /batch", protocol.BatchResponse{Results: []protocol.BatchResult{{Status: 201}}})
		_, err := c.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{send}})
		var de *client.DecodeError
		if !errors.As(err, &de) || !client.IsTemporary(err) {
			t.Fatalf("err = %v, want a temporary DecodeError", err)
		}
	})
	t.Run("a failure without an error is a decode error", func(t *testing.T) {
		recordRoute(fs, "POST /batch", protocol.BatchResponse{Results: []protocol.BatchResult{{Status: 500}}})
		_, err := c.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{send}})
		var de *client.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("err = %v, want a DecodeError", err)
		}
	})
	t.Run("invalid batches are not sent", func(t *testing.T) {
		for name, req := range map[string]protocol.BatchRequest{
			"empty":      {},
			"bad type":   {Ops: []protocol.BatchOp{{Type: "nope"}}},
			"no cid":     {Ops: []protocol.BatchOp{{Type: protocol.OpSendMessage}}},
			"no message": {Ops: []protocol.BatchOp{{Type: protocol.OpDeleteMessage}}},
			"too many":   {Ops: make([]protocol.BatchOp, protocol.MaxBatchOps+1)},
		} {
			var ve *protocol.ValidationError
			if _, err := c.Batch(ctx, req); !errors.As(err, &ve) {
				t.Errorf("%s: err = %v, want a ValidationError", name, err)
			}
		}
	})
}
