package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/migrations"
	"github.com/outpostsync/outpost/protocol"
)

var taskKey = store.RecordKey{CID: "team:a", Collection: "tasks", ID: "t1"}

// recEvent is a record event of taskKey at seq with the given fields
// (nil: a tombstone).
func recEvent(typ protocol.EventType, seq int64, fields map[string]any) *protocol.Event {
	r := &protocol.Record{CID: taskKey.CID, Collection: taskKey.Collection, ID: taskKey.ID, Version: seq,
		CreatedBy: "alice", CreatedAt: at(1), UpdatedBy: "alice", UpdatedAt: at(int(seq))}
	if fields == nil {
		r.Deleted = true
	} else {
		r.Fields, r.FieldVersions = map[string]json.RawMessage{}, map[string]int64{}
		for k, v := range fields {
			raw, _ := json.Marshal(v)
			r.Fields[k], r.FieldVersions[k] = raw, seq
		}
	}
	return &protocol.Event{ID: fmt.Sprintf("rev-%d", seq), Type: typ, CID: taskKey.CID, Seq: seq, CreatedAt: at(int(seq)), Record: r}
}

func fieldsOf(tb testing.TB, db *store.DB, k store.RecordKey) (string, store.Record) {
	tb.Helper()
	r, err := db.GetRecord(context.Background(), k)
	if err != nil {
		tb.Fatalf("GetRecord: %v", err)
	}
	raw, _ := json.Marshal(r.Fields)
	if r.Deleted {
		return "deleted", r
	}
	return string(raw), r
}

// TestRecords_ApplyVersionGuard: record events apply with the version
// guard, idempotently, and a delete is a tombstone an older event cannot
// undo; only a create at a higher version brings the record back.
func TestRecords_ApplyVersionGuard(t *testing.T) {
	db := openTestDB(t)
	apply(t, db, recEvent(protocol.EventRecordCreated, 2, map[string]any{"title": "milk"}))
	apply(t, db, recEvent(protocol.EventRecordUpdated, 4, map[string]any{"title": "oat milk", "done": true}))
	apply(t, db, recEvent(protocol.EventRecordUpdated, 3, map[string]any{"title": "stale"}))
	apply(t, db, recEvent(protocol.EventRecordUpdated, 4, map[string]any{"title": "oat milk", "done": true}))
	if got, r := fieldsOf(t, db, taskKey); got != `{"done":true,"title":"oat milk"}` || r.Version != 4 {
		t.Fatalf("record = %s at %d, want oat milk, done at 4", got, r.Version)
	}
	apply(t, db, recEvent(protocol.EventRecordDeleted, 6, nil))
	apply(t, db, recEvent(protocol.EventRecordUpdated, 5, map[string]any{"title": "late"}))
	if got, _ := fieldsOf(t, db, taskKey); got != "deleted" {
		t.Fatalf("record = %s after a late update, want the tombstone", got)
	}
	page, err := db.ListRecords(context.Background(), store.RecordsQuery{Collection: "tasks"})
	if err != nil || len(page.Records) != 0 {
		t.Fatalf("ListRecords = %+v, %v; want no live records", page, err)
	}
	apply(t, db, recEvent(protocol.EventRecordCreated, 7, map[string]any{"title": "again"}))
	if got, _ := fieldsOf(t, db, taskKey); got != `{"title":"again"}` {
		t.Fatalf("record = %s, want the re-created one", got)
	}
}

func mustRecordTask(tb testing.TB, db *store.DB, typ protocol.BatchOpType, body any) store.PendingTask {
	tb.Helper()
	task, err := store.NewRecordTask(typ, testUser, taskKey.CID, taskKey.Collection, taskKey.ID, body)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.AddPendingTask(context.Background(), task); err != nil {
		tb.Fatal(err)
	}
	return task
}

func raw(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

// TestRecords_OverlayAndRefusal: a pending patch shows over the server's
// record and survives server events of other fields; a refusal rolls the
// record back to the server's record the refusal carries, and lists the
// write as failed with the refusal; retry queues it again.
func TestRecords_OverlayAndRefusal(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	apply(t, db, recEvent(protocol.EventRecordCreated, 2, map[string]any{"title": "milk", "done": false}))
	task := mustRecordTask(t, db, protocol.OpPatchRecord, protocol.PatchRecordRequest{Set: map[string]json.RawMessage{"done": raw(true)}, BaseVersion: 2})
	if got, r := fieldsOf(t, db, taskKey); got != `{"done":true,"title":"milk"}` || r.Pending != 1 {
		t.Fatalf("overlay = %s (pending %d), want done, pending 1", got, r.Pending)
	}
	// Someone renames it: the pending patch stays over the new title.
	apply(t, db, recEvent(protocol.EventRecordUpdated, 5, map[string]any{"title": "oat milk", "done": false}))
	if got, _ := fieldsOf(t, db, taskKey); got != `{"done":true,"title":"oat milk"}` {
		t.Fatalf("rebased = %s, want done over oat milk", got)
	}
	if op := store.TaskOp(task); op.CID != "team:a" || op.Collection != "tasks" || op.RecordID != "t1" || op.Key != task.ID {
		t.Fatalf("op = %+v, want the record named and the task's key", op)
	}
	// The server refuses it, carrying its record (seq 7).
	server := recEvent(protocol.EventRecordUpdated, 7, map[string]any{"title": "oat milk", "done": false, "who": "bob"}).Record
	refusal := &protocol.APIError{Code: protocol.CodeConflict, StatusCode: 409, Message: "conflict", Path: "/set/done", Record: server,
		Conflict: &protocol.FieldConflict{Field: "done", Yours: raw(true), Server: raw(false), ServerVersion: 7}}
	if err := db.CompleteTasks(ctx, []store.TaskOutcome{{TaskID: task.ID, Failed: refusal}}); err != nil {
		t.Fatal(err)
	}
	got, r := fieldsOf(t, db, taskKey)
	if got != `{"done":false,"title":"oat milk","who":"bob"}` || r.Version != 7 || r.Pending != 0 || r.Failed != 1 {
		t.Fatalf("after refusal = %s at %d (pending %d, failed %d), want the server's record, failed 1", got, r.Version, r.Pending, r.Failed)
	}
	failed, err := db.FailedTasks(ctx)
	if err != nil || len(failed) != 1 {
		t.Fatalf("FailedTasks = %v, %v", failed, err)
	}
	if f := failed[0]; f.RecordID != "t1" || f.Refusal == nil || f.Refusal.Path != "/set/done" || f.Refusal.Conflict == nil ||
		string(f.Refusal.Conflict.Server) != "false" || f.Refusal.Record == nil || f.Refusal.Record.Version != 7 {
		t.Fatalf("failed task = %+v, want the record, the path, both values and the server's record", f)
	}
	if _, err := db.RetryFailed(ctx, task.ID); err != nil {
		t.Fatal(err)
	}
	if got, r := fieldsOf(t, db, taskKey); got != `{"done":true,"title":"oat milk","who":"bob"}` || r.Pending != 1 || r.Failed != 0 {
		t.Fatalf("after retry = %s (pending %d, failed %d), want done again, pending", got, r.Pending, r.Failed)
	}
}

// TestRecords_CreateAnswerAndDelete: a pending create shows at once; the
// server's answer replaces it; a pending delete hides it; a reset keeps
// the pending writes' records and drops the rest.
func TestRecords_CreateAnswerAndDelete(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	create := mustRecordTask(t, db, protocol.OpCreateRecord, protocol.CreateRecordRequest{Fields: map[string]json.RawMessage{"title": raw("milk")}})
	if got, r := fieldsOf(t, db, taskKey); got != `{"title":"milk"}` || r.Version != 0 || r.Pending != 1 {
		t.Fatalf("pending create = %s at %d (pending %d)", got, r.Version, r.Pending)
	}
	answer := recEvent(protocol.EventRecordCreated, 3, map[string]any{"title": "milk"}).Record
	if err := db.CompleteTasks(ctx, []store.TaskOutcome{{TaskID: create.ID, Result: &protocol.BatchResult{Status: 201, Record: answer}}}); err != nil {
		t.Fatal(err)
	}
	if got, r := fieldsOf(t, db, taskKey); got != `{"title":"milk"}` || r.Version != 3 || r.Pending != 0 {
		t.Fatalf("answered create = %s at %d (pending %d)", got, r.Version, r.Pending)
	}
	v := int64(3)
	mustRecordTask(t, db, protocol.OpDeleteRecord, protocol.DeleteRecordRequest{IfVersion: &v})
	if got, _ := fieldsOf(t, db, taskKey); got != "deleted" {
		t.Fatalf("pending delete = %s, want deleted", got)
	}
	other := recEvent(protocol.EventRecordCreated, 4, map[string]any{"title": "bread"})
	other.Record.ID, other.ID = "t2", "rev-other"
	apply(t, db, other)
	if err := db.ResetDB(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetRecord(ctx, store.RecordKey{CID: "team:a", Collection: "tasks", ID: "t2"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("t2 after reset: %v, want ErrNotFound", err)
	}
	if got, _ := fieldsOf(t, db, taskKey); got != "deleted" {
		t.Fatalf("t1 after reset = %s, want its pending delete kept", got)
	}
}

// TestRecords_ListIndexAndPaging: List filters and sorts by fields and
// pages with a cursor; a declared index is used (EXPLAIN QUERY PLAN);
// bad field names and index types are refused.
func TestRecords_ListIndexAndPaging(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	var evs []*protocol.Event
	for i := 1; i <= 25; i++ {
		ev := recEvent(protocol.EventRecordCreated, int64(i), map[string]any{"title": fmt.Sprintf("task %02d", i), "done": i%2 == 0, "rank": 30 - i})
		ev.Record.ID, ev.ID = fmt.Sprintf("t%02d", i), fmt.Sprint("ev", i)
		evs = append(evs, ev)
	}
	apply(t, db, evs...)
	if err := db.EnsureIndexes(ctx, "tasks", []store.Index{{Field: "done", Type: "boolean"}, {Field: "rank", Type: "integer"}}); err != nil {
		t.Fatal(err)
	}
	q := store.RecordsQuery{Collection: "tasks", Where: []store.FieldFilter{{Field: "done", Value: true}}, OrderBy: "rank", Limit: 5}
	var ids []string
	for {
		page, err := db.ListRecords(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			ids = append(ids, r.ID)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if got, want := strings.Join(ids, ","), "t24,t22,t20,t18,t16,t14,t12,t10,t08,t06,t04,t02"; got != want {
		t.Fatalf("done by rank = %s, want %s", got, want)
	}
	plan, err := db.ExplainListRecords(ctx, store.RecordsQuery{Collection: "tasks", Where: []store.FieldFilter{{Field: "done", Value: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "USING INDEX records_tasks_done") {
		t.Fatalf("plan = %q, want the done index used", plan)
	}
	for _, bad := range []store.Index{{Field: "done", Type: "date"}, {Field: "a'b", Type: "text"}} {
		if err := db.EnsureIndexes(ctx, "tasks", []store.Index{bad}); !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("EnsureIndexes(%+v) = %v, want ErrInvalidQuery", bad, err)
		}
	}
	if _, err := db.ListRecords(ctx, store.RecordsQuery{Collection: "tasks", OrderBy: "x') OR 1=1 --"}); !errors.Is(err, store.ErrInvalidQuery) {
		t.Errorf("bad OrderBy: %v, want ErrInvalidQuery", err)
	}
}

// appTasksMigration is an app's migration that keeps its own table of
// tasks in step with the records table by triggers.
var appTasksMigration = migrations.Set{Name: "app", Migrations: []migrations.Migration{{Version: 1, Name: "app_tasks", SQL: `
CREATE TABLE app_tasks (cid TEXT, id TEXT, title TEXT, done INTEGER, PRIMARY KEY (cid, id));
CREATE TRIGGER app_tasks_ins AFTER INSERT ON records WHEN new.collection = 'tasks' AND new.deleted = 0 BEGIN
	INSERT OR REPLACE INTO app_tasks VALUES (new.cid, new.id, json_extract(new.fields, '$.title'), json_extract(new.fields, '$.done'));
END;
CREATE TRIGGER app_tasks_upd AFTER UPDATE ON records WHEN new.collection = 'tasks' BEGIN
	DELETE FROM app_tasks WHERE cid = old.cid AND id = old.id;
	INSERT INTO app_tasks SELECT new.cid, new.id, json_extract(new.fields, '$.title'), json_extract(new.fields, '$.done') WHERE new.deleted = 0;
END;
CREATE TRIGGER app_tasks_del AFTER DELETE ON records WHEN old.collection = 'tasks' BEGIN
	DELETE FROM app_tasks WHERE cid = old.cid AND id = old.id;
END;`}}}

// TestRecords_AppTableByTriggers: an app table kept by triggers in the
// app's migrations equals the live records after sync, after a reset and
// after a refused write's rollback: they run in the store's transactions.
func TestRecords_AppTableByTriggers(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "local.db"), store.Options{Migrations: []migrations.Set{appTasksMigration}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Bind(ctx, testUser, false); err != nil {
		t.Fatal(err)
	}
	same := func(when string) {
		t.Helper()
		var app, recs []string
		if err := sqlx.NewDb(db.SQLDB(), "sqlite").SelectContext(ctx, &app, `SELECT id || ':' || title || ':' || done FROM app_tasks ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if err := sqlx.NewDb(db.SQLDB(), "sqlite").SelectContext(ctx, &recs, `SELECT id || ':' || json_extract(fields, '$.title') || ':' || json_extract(fields, '$.done')
FROM records WHERE collection = 'tasks' AND deleted = 0 ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if strings.Join(app, "|") != strings.Join(recs, "|") {
			t.Fatalf("%s: app table %v != records %v", when, app, recs)
		}
	}
	apply(t, db, recEvent(protocol.EventRecordCreated, 2, map[string]any{"title": "milk", "done": false}))
	two := recEvent(protocol.EventRecordCreated, 3, map[string]any{"title": "bread", "done": false})
	two.Record.ID, two.ID = "t2", "rev-t2"
	apply(t, db, two)
	same("after sync")
	task := mustRecordTask(t, db, protocol.OpPatchRecord, protocol.PatchRecordRequest{Set: map[string]json.RawMessage{"done": raw(true)}, BaseVersion: 2})
	same("with a pending patch")
	server := recEvent(protocol.EventRecordUpdated, 5, map[string]any{"title": "oat milk", "done": false}).Record
	if err := db.CompleteTasks(ctx, []store.TaskOutcome{{TaskID: task.ID, Failed: &protocol.APIError{Code: 43, StatusCode: 412, Record: server}}}); err != nil {
		t.Fatal(err)
	}
	same("after a refused write's rollback")
	if err := db.ResetDB(ctx); err != nil {
		t.Fatal(err)
	}
	same("after a reset")
	// The refill: the channel's state, then its records.
	if err := db.ApplySyncStates(ctx, []protocol.ChannelResponse{state(taskKey.CID, "e1", 5)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyRecordsPage(ctx, taskKey.CID, recordsPage(5, "", *server)); err != nil {
		t.Fatal(err)
	}
	same("after the refill")
}

// TestRecords_PatchesOfOneBatch: a batch (a sync page) holding several
// events of one record leaves it as the events applied one at a time do,
// the stale and creator-less ones included.
func TestRecords_PatchesOfOneBatch(t *testing.T) {
	patch := func(seq int64, title, creator string) *protocol.Event {
		ev := recEvent(protocol.EventRecordUpdated, seq, map[string]any{"title": title})
		ev.ID = fmt.Sprintf("rev-%d-%s", seq, title)
		ev.Record.CreatedBy = creator
		if creator == "" {
			ev.Record.CreatedAt = time.Time{}
		}
		return ev
	}
	other := recEvent(protocol.EventRecordCreated, 3, map[string]any{"title": "other"})
	other.ID, other.Record.ID = "rev-other", "t2"
	pages := map[string][]*protocol.Event{
		"whole patches":                  {patch(3, "a", "bob"), patch(4, "b", "bob"), other, patch(6, "c", "carol")},
		"a creator-less highest":         {patch(3, "a", "bob"), patch(5, "b", ""), patch(4, "stale", "dave")},
		"a stale whole one after":        {patch(3, "a", "bob"), patch(5, "b", ""), patch(4, "stale", "dave"), patch(4, "stale2", "erin")},
		"the same version twice":         {patch(3, "a", "bob"), patch(6, "b", ""), patch(6, "c", "carol")},
		"all stale":                      {patch(1, "a", "bob"), patch(2, "b", "carol")},
		"a tombstone between":            {patch(3, "a", "bob"), recEvent(protocol.EventRecordDeleted, 4, nil), patch(5, "c", "")},
		"a tombstone last":               {patch(3, "a", "bob"), recEvent(protocol.EventRecordDeleted, 4, nil)},
		"only creator-less ones after":   {patch(3, "a", "bob"), patch(4, "b", ""), patch(5, "c", "")},
		"a lower whole one after a high": {patch(7, "a", ""), patch(3, "b", "bob"), patch(8, "c", "carol")},
	}
	for name, evs := range pages {
		t.Run(name, func(t *testing.T) {
			oneByOne, batched := openTestDB(t), openTestDB(t)
			for _, db := range []*store.DB{oneByOne, batched} {
				apply(t, db, recEvent(protocol.EventRecordCreated, 2, map[string]any{"title": "start"}))
			}
			for _, ev := range evs {
				apply(t, oneByOne, ev)
			}
			apply(t, batched, evs...)
			for _, k := range []store.RecordKey{taskKey, {CID: taskKey.CID, Collection: taskKey.Collection, ID: "t2"}} {
				want, wantErr := oneByOne.GetRecord(context.Background(), k)
				got, err := batched.GetRecord(context.Background(), k)
				if fmt.Sprint(err) != fmt.Sprint(wantErr) || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
					t.Errorf("%s batched = %+v, %v; one by one %+v, %v", k.ID, got, err, want, wantErr)
				}
			}
		})
	}
}
