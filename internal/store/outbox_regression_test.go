package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// TestPendingTasks_PayloadRoundTrip is the regression test for payloads
// that could not be read back (TEXT scanned into json.RawMessage).
func TestPendingTasks_PayloadRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	task, err := store.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: "m1", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddPendingTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	got, err := db.PendingTasks(ctx)
	if err != nil || len(got) != 1 {
		t.Fatalf("PendingTasks = %v, %v", got, err)
	}
	if string(got[0].Payload) != string(task.Payload) || got[0].Type != protocol.OpSendMessage || got[0].ID != "m1" {
		t.Errorf("task = %+v, want the payload %s back", got[0], task.Payload)
	}
	if err := db.MoveToFailed(ctx, "m1", protocol.NewAPIError(protocol.CodeInput, "bad")); err != nil {
		t.Fatal(err)
	}
	failed, err := db.FailedTasks(ctx)
	if err != nil || len(failed) != 1 || string(failed[0].Payload) != string(task.Payload) {
		t.Fatalf("FailedTasks = %+v, %v", failed, err)
	}
}

// TestPendingTasks_NoFoldIntoAClaimedSend is the regression test for an
// edit lost when it folded into a send already on its way to the server:
// once the drain claims a send, an edit or delete queues after it.
func TestPendingTasks_NoFoldIntoAClaimedSend(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	send, _ := store.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: "m1", Text: "hi"})
	if _, err := db.AddPendingTask(ctx, send); err != nil {
		t.Fatal(err)
	}
	edit, _ := store.NewUpdateMessageTask("bob", "team:a", "m1", protocol.UpdateMessageRequest{Text: "folded"})
	if res, err := db.AddPendingTask(ctx, edit); err != nil || res != store.Folded {
		t.Fatalf("edit of an unclaimed send = %v, %v; want Folded", res, err)
	}
	claimed, err := db.ClaimPendingTask(ctx, "m1")
	if err != nil || !strings.Contains(string(claimed.Payload), "folded") {
		t.Fatalf("ClaimPendingTask = %s, %v; want the folded payload", claimed.Payload, err)
	}
	edit2, _ := store.NewUpdateMessageTask("bob", "team:a", "m1", protocol.UpdateMessageRequest{Text: "after"})
	if res, err := db.AddPendingTask(ctx, edit2); err != nil || res != store.Queued {
		t.Fatalf("edit of a claimed send = %v, %v; want Queued", res, err)
	}
	del, _ := store.NewDeleteMessageTask("bob", "team:a", "m1", false)
	if res, err := db.AddPendingTask(ctx, del); err != nil || res != store.Queued {
		t.Fatalf("delete of a claimed send = %v, %v; want Queued", res, err)
	}
	tasks, _ := db.PendingTasks(ctx)
	if len(tasks) != 3 || tasks[0].ID != "m1" || tasks[1].Type != protocol.OpUpdateMessage || tasks[2].Type != protocol.OpDeleteMessage {
		t.Errorf("outbox = %+v, want send, update, delete", tasks)
	}
	// A temporary failure keeps the claim (see
	// TestPendingTasks_NoCancelAfterAFailedAttempt).
	if err := db.UpdatePendingTask(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimPendingTask(ctx, "nope"); !errors.Is(err, store.ErrTaskNotFound) {
		t.Errorf("claim of an unknown task: %v", err)
	}
}

// TestPendingTasks_NoCancelAfterAFailedAttempt is the regression test for a
// message left on the server after its author deleted it, found by
// TestConvergence: a send attempt timed out or was cut after the server
// had stored the message; the temporary failure released the claim, so a
// delete then "cancelled" the send locally and the server never heard of
// it (and an edit folded into the send was lost the same way: the retry
// of a stored id answers with the stored text).
func TestPendingTasks_NoCancelAfterAFailedAttempt(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	send, _ := store.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: "m1", Text: "hi"})
	if _, err := db.AddPendingTask(ctx, send); err != nil {
		t.Fatal(err)
	}
	claimed, err := db.ClaimPendingTask(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	claimed.Attempts, claimed.LastError = 1, "context deadline exceeded"
	if err := db.UpdatePendingTask(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	edit, _ := store.NewUpdateMessageTask("bob", "team:a", "m1", protocol.UpdateMessageRequest{Text: "edited"})
	if res, err := db.AddPendingTask(ctx, edit); err != nil || res != store.Queued {
		t.Fatalf("edit after a failed attempt = %v, %v; want Queued", res, err)
	}
	del, _ := store.NewDeleteMessageTask("bob", "team:a", "m1", true)
	if res, err := db.AddPendingTask(ctx, del); err != nil || res != store.Queued {
		t.Fatalf("delete after a failed attempt = %v, %v; want Queued", res, err)
	}
	tasks, _ := db.PendingTasks(ctx)
	if len(tasks) != 3 || tasks[0].ID != "m1" || string(tasks[0].Payload) != string(send.Payload) {
		t.Errorf("outbox = %+v, want the send unchanged, then the edit and the delete", tasks)
	}
}
