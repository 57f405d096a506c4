package offlinedb_test

import (
	"context"
	"testing"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// TestPendingTasks_PayloadRoundTrip is the regression test for payloads
// that could not be read back (TEXT scanned into json.RawMessage).
func TestPendingTasks_PayloadRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	task, err := offlinedb.NewSendMessageTask("bob", "team:a", protocol.MessageInput{ID: "m1", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddPendingTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetPendingTasks(ctx, "bob")
	if err != nil || len(got) != 1 {
		t.Fatalf("GetPendingTasks = %v, %v", got, err)
	}
	if string(got[0].Payload) != string(task.Payload) || got[0].Type != offlinedb.TaskSendMessage || got[0].ID != "m1" {
		t.Errorf("task = %+v, want the payload %s back", got[0], task.Payload)
	}
	if err := db.MoveToFailed(ctx, "m1", protocol.NewAPIError(protocol.CodeInput, "bad")); err != nil {
		t.Fatal(err)
	}
	failed, err := db.GetFailedTasks(ctx, "bob")
	if err != nil || len(failed) != 1 || string(failed[0].Payload) != string(task.Payload) {
		t.Fatalf("GetFailedTasks = %+v, %v", failed, err)
	}
}
