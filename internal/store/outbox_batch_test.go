package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// TestCompleteTasks: tasks claimed and sent together are completed in one
// transaction: the applied ones leave the outbox with the server's answer
// stored, the refused one moves to the failed list with its row marked,
// and a claim keeps later edits from folding into a send in flight.
func TestCompleteTasks(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	var ids []string
	for _, id := range []string{"m1", "m2", "m3"} {
		task, _ := store.NewSendMessageTask(testUser, "team:a", protocol.MessageInput{ID: id, Text: "text " + id})
		if _, err := db.AddPendingTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	gone, _ := store.NewSendMessageTask(testUser, "team:a", protocol.MessageInput{ID: "gone", Text: "cancelled"})
	if _, err := db.AddPendingTask(ctx, gone); err != nil {
		t.Fatal(err)
	}
	del, _ := store.NewDeleteMessageTask(testUser, "team:a", "gone", false)
	if res, err := db.AddPendingTask(ctx, del); err != nil || res != store.Cancelled {
		t.Fatalf("delete of a pending send = %v, %v", res, err)
	}

	claimed, err := db.ClaimPendingTasks(ctx, append(ids, "gone"))
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 3 || claimed[0].ID != "m1" || claimed[2].ID != "m3" {
		t.Fatalf("claimed = %+v, want m1, m2, m3 in order", claimed)
	}
	edit, _ := store.NewUpdateMessageTask(testUser, "team:a", "m1", protocol.UpdateMessageRequest{Text: "later"})
	if res, err := db.AddPendingTask(ctx, edit); err != nil || res != store.Queued {
		t.Fatalf("edit of a claimed send = %v, %v; want Queued", res, err)
	}

	answer := func(id string) *protocol.BatchResult {
		return &protocol.BatchResult{Message: msgEvent(protocol.EventMessageNew, "team:a", id, "text "+id, 7).Message}
	}
	err = db.CompleteTasks(ctx, []store.TaskOutcome{
		{TaskID: "m1", Result: answer("m1")},
		{TaskID: "m2", Failed: protocol.NewAPIError(protocol.CodeNotAllowed, "not a member")},
		{TaskID: "m3", Result: answer("m3")},
		{TaskID: "gone"}, // cancelled meanwhile: skipped
	})
	if err != nil {
		t.Fatal(err)
	}
	// m1's answer is stored under its pending edit, which it keeps.
	for id, want := range map[string]store.MessageStatus{"m1": store.StatusPending, "m2": store.StatusFailed, "m3": store.StatusSent} {
		if m := mustMessage(t, db, id); m.Status != want {
			t.Errorf("%s: status %s, want %s", id, m.Status, want)
		}
	}
	if m := mustMessage(t, db, "m1"); m.Text != "later" {
		t.Errorf("m1: text %q, want the pending edit's", m.Text)
	}
	pending, _ := db.PendingTasks(ctx)
	if len(pending) != 1 || pending[0].Type != protocol.OpUpdateMessage {
		t.Errorf("outbox = %+v, want only the later edit", pending)
	}
	failed, _ := db.FailedTasks(ctx)
	if len(failed) != 1 || failed[0].ID != "m2" || failed[0].ErrorCode != protocol.CodeNotAllowed {
		t.Errorf("failed = %+v, want m2 with code 17", failed)
	}
	if n, err := db.ClaimPendingTasks(ctx, nil); err != nil || n != nil {
		t.Errorf("claim of nothing = %v, %v", n, err)
	}
}

// TestDeleteFailedTask: dismissing a failed send or reaction removes its
// failed row with it; a sent row is never touched.
func TestDeleteFailedTask(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "theirs", "hi", 2))
	send, _ := store.NewSendMessageTask(testUser, "team:a", protocol.MessageInput{ID: "mine", Text: "refused"})
	react, _ := store.NewSendReactionTask(testUser, "team:a", "theirs", protocol.SendReactionRequest{Type: "like"})
	for _, task := range []store.PendingTask{send, react} {
		if _, err := db.AddPendingTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		if err := db.MoveToFailed(ctx, task.ID, protocol.NewAPIError(protocol.CodeNotAllowed, "no")); err != nil {
			t.Fatal(err)
		}
	}
	// The refused reaction is rolled back (the server has none); the
	// failed list keeps it.
	if rs, _ := db.Reactions(ctx, "theirs"); len(rs) != 0 {
		t.Fatalf("reactions before = %+v, want none", rs)
	}
	if f, _ := db.FailedTasks(ctx); len(f) != 2 {
		t.Fatalf("failed = %+v, want the send and the reaction", f)
	}
	for _, id := range []string{send.ID, react.ID} {
		if err := db.DismissFailed(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Message(ctx, "mine"); err == nil {
		t.Error("the failed message is still there")
	}
	if rs, _ := db.Reactions(ctx, "theirs"); len(rs) != 0 {
		t.Errorf("reactions after = %+v, want none", rs)
	}
	if m := mustMessage(t, db, "theirs"); m.Status != store.StatusSent {
		t.Errorf("the other message: %+v", m)
	}
	if err := db.DismissFailed(ctx, send.ID); !errors.Is(err, store.ErrTaskNotFound) {
		t.Errorf("second delete = %v, want ErrTaskNotFound", err)
	}
}

// TestMessages_FarFutureClock: the latest page has no time bound, so a
// message stamped by a clock set far ahead still shows.
func TestMessages_FarFutureClock(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	ev := msgEvent(protocol.EventMessageNew, "team:a", "future", "from 2200", 2)
	ev.Message.CreatedAt = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	apply(t, db, msgEvent(protocol.EventMessageNew, "team:a", "now", "today", 1), ev)
	ms, err := db.Messages(ctx, "team:a", store.MessagesQuery{})
	if err != nil || len(ms) != 2 || ms[1].ID != "future" {
		t.Fatalf("latest page = %+v, %v; want now, future", ms, err)
	}
	if older, err := db.Messages(ctx, "team:a", store.MessagesQuery{Before: "future"}); err != nil || len(older) != 1 || older[0].ID != "now" {
		t.Errorf("page before future = %+v, %v", older, err)
	}
}
