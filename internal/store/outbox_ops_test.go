package store_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// TestPendingTask_Op: each write of the app becomes the op POST /batch
// takes, stored and read back as such: a send names its channel and has
// no key (its message id makes it exactly-once), a mark-read names its
// channel, the others their message, each with the task's id as key.
func TestPendingTask_Op(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	mustTask := func(task store.PendingTask, err error) store.PendingTask {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
	tasks := []store.PendingTask{
		mustTask(store.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: "m1", Text: "hi"})),
		mustTask(store.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: "m2", Text: "yo"})),
		mustTask(store.NewSendReactionTask("bob", "team:a", "m1", protocol.SendReactionRequest{Type: "like"})),
		mustTask(store.NewDeleteReactionTask("bob", "team:a", "m1", "like")),
		mustTask(store.NewMarkReadTask("bob", "team:a", protocol.MarkReadRequest{MessageID: "m1"})),
	}
	// Claim the sends, so that the edit and delete queue after them
	// instead of folding into them.
	for _, task := range tasks {
		if _, err := db.AddPendingTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ClaimPendingTasks(ctx, []string{"m1", "m2"}); err != nil {
		t.Fatal(err)
	}
	for _, task := range []store.PendingTask{
		mustTask(store.NewUpdateMessageTask("bob", "team:a", "m1", protocol.UpdateMessageRequest{Text: "edited"})),
		mustTask(store.NewDeleteMessageTask("bob", "team:a", "m2", true)),
	} {
		if _, err := db.AddPendingTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	stored, err := db.PendingTasks(ctx)
	if err != nil || len(stored) != len(tasks) {
		t.Fatalf("PendingTasks = %d tasks, %v; want %d", len(stored), err, len(tasks))
	}
	want := []protocol.BatchOp{
		{Type: protocol.OpSendMessage, CID: "team:a", Body: json.RawMessage(`{"message":{"id":"m1","text":"hi"}}`)},
		{Type: protocol.OpSendMessage, CID: "team:a", Body: json.RawMessage(`{"message":{"id":"m2","text":"yo"}}`)},
		{Type: protocol.OpSendReaction, Key: tasks[2].ID, MessageID: "m1", Body: json.RawMessage(`{"type":"like"}`)},
		{Type: protocol.OpDeleteReaction, Key: tasks[3].ID, MessageID: "m1", Body: json.RawMessage(`{"type":"like"}`)},
		{Type: protocol.OpMarkRead, Key: tasks[4].ID, CID: "team:a", Body: json.RawMessage(`{"message_id":"m1"}`)},
		{Type: protocol.OpUpdateMessage, Key: tasks[5].ID, MessageID: "m1", Body: json.RawMessage(`{"text":"edited"}`)},
		{Type: protocol.OpDeleteMessage, Key: tasks[6].ID, MessageID: "m2", Body: json.RawMessage(`{"hard":true}`)},
	}
	for i, task := range stored {
		got, _ := json.Marshal(store.TaskOp(task))
		w, _ := json.Marshal(want[i])
		if string(got) != string(w) {
			t.Errorf("op %d = %s,\nwant %s", i, got, w)
		}
	}
}

// TestPendingTask_OpFromV1Store: an outbox written by release v1 (type
// names and payloads of the wire form already) reads back as the op a
// drain sends, unchanged.
func TestPendingTask_OpFromV1Store(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	src, err := os.Open(filepath.Join("..", "..", "testdata", "v1-client.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// v1 recorded its user, bob, without binding: outpost.Open binds it.
	if err := db.Bind(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	tasks, err := db.PendingTasks(ctx)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("PendingTasks = %+v, %v; want the v1 send", tasks, err)
	}
	got, _ := json.Marshal(store.TaskOp(tasks[0]))
	want := `{"type":"send-message","cid":"team:general","body":{"message":{"id":"m-offline-v1","text":"written offline under v1"}}}`
	if string(got) != want {
		t.Errorf("op = %s,\nwant %s", got, want)
	}
	var body protocol.SendMessageRequest
	if err := protocol.DecodeStrict(store.TaskOp(tasks[0]).Body, &body, "body"); err != nil {
		t.Errorf("the v1 body does not decode strictly, as the server decodes it: %v", err)
	}
}
