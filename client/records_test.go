package client_test

import (
	"encoding/json"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

// TestRecords_RESTAndBatch: the record calls, alone and as batch ops,
// against a real server; a refusal is an *APIError with its path and the
// server's record.
func TestRecords_RESTAndBatch(t *testing.T) {
	rs := startRealServer(t)
	ctx := testCtx(t)
	alice := realClient(t, rs.http.URL(), "alice")
	ok(alice.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "tasks"})).must(t)
	k := client.RecordKey{CID: "team:tasks", Collection: "tasks", ID: "t1"}
	created := ok(alice.CreateRecord(ctx, k, protocol.CreateRecordRequest{Fields: map[string]json.RawMessage{"title": []byte(`"a"`)}}, client.IdempotencyKey("c1"))).must(t)
	patched := ok(alice.PatchRecord(ctx, k, protocol.PatchRecordRequest{Set: map[string]json.RawMessage{"done": []byte(`true`)},
		BaseVersion: created.Record.Version}, client.IdempotencyKey("p1"))).must(t)
	if len(patched.Record.Fields) != 2 {
		t.Fatalf("patched %+v", patched.Record)
	}
	_, err := alice.ReplaceRecord(ctx, k, protocol.ReplaceRecordRequest{Fields: map[string]json.RawMessage{}, IfVersion: &created.Record.Version}, client.IdempotencyKey("r1"))
	ae, isAPI := protocol.AsAPIError(err)
	if !isAPI || ae.Code != protocol.CodePreconditionFailed || ae.Path != "/if_version" || ae.Record == nil || ae.Record.Version != patched.Record.Version {
		t.Fatalf("stale replace: %v", err)
	}
	res := ok(alice.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{
		{Type: protocol.OpCreateRecord, Key: "c2", CID: "team:tasks", Collection: "tasks", RecordID: "t2", Body: []byte(`{"fields":{}}`)},
		{Type: protocol.OpDeleteRecord, Key: "d1", CID: "team:tasks", Collection: "tasks", RecordID: "t1",
			Body: json.RawMessage(`{"if_version":` + jsonInt(patched.Record.Version) + `}`)},
	}})).must(t)
	if res.Results[0].Record == nil || res.Results[1].Record == nil || !res.Results[1].Record.Deleted {
		t.Fatalf("batch results %+v", res.Results)
	}
	page := ok(alice.Records(ctx, "team:tasks", "", 0)).must(t)
	if len(page.Records) != 1 || page.Records[0].ID != "t2" || page.Position == nil {
		t.Fatalf("records page %+v", page)
	}
	got := ok(alice.Record(ctx, k)).must(t)
	if !got.Record.Deleted {
		t.Errorf("t1 after its delete: %+v", got.Record)
	}
	if _, err := alice.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{{Type: protocol.OpPatchRecord, CID: "team:tasks", Collection: "tasks"}}}); err == nil {
		t.Error("a record op without a record id was sent")
	}
}

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }
