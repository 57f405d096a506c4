package client_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

// TestREST_GarbledWriteAnswerIsNotSuccess is the regression test for
// writes lost to a broken server, found by TestBadServer: a 2xx answer of
// `null` or `{}` to a send (or a reaction) decoded into an empty response
// without error, so the outbox took the write for applied and dropped it.
// A write's answer must name what was written; otherwise it is a
// temporary *DecodeError and the write is retried.
func TestREST_GarbledWriteAnswerIsNotSuccess(t *testing.T) {
	for _, body := range []string{`null`, `{}`, `{"message":{"id":"someone-else"},"reaction":{"message_id":"someone-else"},"read":{"cid":"team:x"}}`} {
		t.Run(body, func(t *testing.T) {
			fs := newFakeServer(t)
			c := newClient(t, fs.URL())
			answer := func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte(body))
			}
			fs.handle("POST /channels/messaging:general/messages", answer)
			fs.handle("PUT /messages/m1", answer)
			fs.handle("DELETE /messages/m1", answer)
			ctx := testCtx(t)
			_, err := c.SendMessage(ctx, "messaging:general", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "m1", Text: "hi"}})
			var de *client.DecodeError
			if !errors.As(err, &de) || !client.IsTemporary(err) {
				t.Errorf("SendMessage = %v, want a temporary *client.DecodeError", err)
			}
			if _, err := c.UpdateMessage(ctx, "m1", protocol.UpdateMessageRequest{Text: "x"}, client.IdempotencyKey("k")); !errors.As(err, &de) {
				t.Errorf("UpdateMessage = %v, want a *client.DecodeError", err)
			}
			if _, err := c.DeleteMessage(ctx, "m1", protocol.DeleteMessageBody{}, client.IdempotencyKey("k2")); !errors.As(err, &de) {
				t.Errorf("DeleteMessage = %v, want a *client.DecodeError", err)
			}
			fs.handle("POST /messages/m1/reactions", answer)
			fs.handle("DELETE /messages/m1/reactions/like", answer)
			fs.handle("POST /channels/messaging:general/read", answer)
			if _, err := c.SendReaction(ctx, "m1", protocol.SendReactionRequest{Type: "like"}, client.IdempotencyKey("k3")); !errors.As(err, &de) {
				t.Errorf("SendReaction = %v, want a *client.DecodeError", err)
			}
			if _, err := c.DeleteReaction(ctx, "m1", "like", client.IdempotencyKey("k4")); !errors.As(err, &de) {
				t.Errorf("DeleteReaction = %v, want a *client.DecodeError", err)
			}
			if _, err := c.MarkRead(ctx, "messaging:general", protocol.MarkReadRequest{}, client.IdempotencyKey("k5")); !errors.As(err, &de) {
				t.Errorf("MarkRead = %v, want a *client.DecodeError", err)
			}
		})
	}
}
