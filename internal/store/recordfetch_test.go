package store_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// rec is a live record of taskKey's channel and collection.
func rec(id string, version int64, title string) protocol.Record {
	return protocol.Record{CID: taskKey.CID, Collection: taskKey.Collection, ID: id, Version: version,
		Fields: map[string]json.RawMessage{"title": raw(title)}, FieldVersions: map[string]int64{"title": version},
		CreatedBy: "alice", CreatedAt: at(1), UpdatedBy: "alice", UpdatedAt: at(int(version))}
}

func recordsPage(seq int64, next string, recs ...protocol.Record) *protocol.RecordsResponse {
	return &protocol.RecordsResponse{Records: recs, Position: &protocol.Position{Epoch: "e1", Seq: seq, EventID: "x"}, Next: next}
}

// liveIDs lists the ids of the live records of taskKey's channel.
func liveIDs(tb testing.TB, db *store.DB) []string {
	tb.Helper()
	page, err := db.ListRecords(context.Background(), store.RecordsQuery{CID: taskKey.CID, Collection: taskKey.Collection})
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for _, r := range page.Records {
		ids = append(ids, r.ID)
	}
	return ids
}

func fetches(tb testing.TB, db *store.DB) []store.RecordFetch {
	tb.Helper()
	f, err := db.RecordFetches(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// TestRecordFetch_SweepsWhatTheServerDeleted: a channel whose state a sync
// fetches again gets its records whole; the fetch goes on after a restart
// from the page it got to, and its last page turns the records no page
// brought into tombstones, except those changed after the first page's
// position and those a pending write overlays.
func TestRecordFetch_SweepsWhatTheServerDeleted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "local.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Bind(ctx, testUser, false); err != nil {
		t.Fatal(err)
	}
	cid := taskKey.CID

	// The first fetch: the channel held no records, nothing to sweep.
	if err := db.ApplySyncStates(ctx, []protocol.ChannelResponse{state(cid, "e1", 10)}, nil); err != nil {
		t.Fatal(err)
	}
	if f := fetches(t, db); len(f) != 1 || f[0] != (store.RecordFetch{CID: cid}) {
		t.Fatalf("fetches after the state = %+v", f)
	}
	if _, err := db.ApplyRecordsPage(ctx, cid, recordsPage(10, "", rec("a", 2, "a"), rec("b", 3, "b"), rec("c", 4, "c"), rec("d", 5, "d"))); err != nil {
		t.Fatal(err)
	}
	if f := fetches(t, db); len(f) != 0 {
		t.Fatalf("fetches after the last page = %+v", f)
	}
	// t1 is a record with a pending write, on the server since seq 6.
	apply(t, db, recEvent(protocol.EventRecordCreated, 6, map[string]any{"title": "t1"}))
	mustRecordTask(t, db, protocol.OpPatchRecord, protocol.PatchRecordRequest{Set: map[string]json.RawMessage{"done": raw(true)}, BaseVersion: 6})

	// The channel is reset: its state and records are fetched again. The
	// server deleted b and d (and t1, whose write it will refuse).
	if err := db.ApplySyncStates(ctx, []protocol.ChannelResponse{state(cid, "e2", 30)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyRecordsPage(ctx, cid, recordsPage(30, "tasks/a", rec("a", 2, "a"))); err != nil {
		t.Fatal(err)
	}
	if f := fetches(t, db); len(f) != 1 || f[0].After != "tasks/a" {
		t.Fatalf("fetches after the first page = %+v", f)
	}
	// A live event meanwhile creates e after the first page's position.
	apply(t, db, func() *protocol.Event {
		ev := recEvent(protocol.EventRecordCreated, 31, map[string]any{"title": "e"})
		ev.Record.ID, ev.ID = "e", "rev-e"
		return ev
	}())

	// A restart: the fetch goes on from where it got to.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = store.Open(ctx, path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := fetches(t, db)
	if len(f) != 1 || f[0] != (store.RecordFetch{CID: cid, After: "tasks/a"}) {
		t.Fatalf("fetches after a restart = %+v", f)
	}
	swept, err := db.ApplyRecordsPage(ctx, cid, recordsPage(32, "", rec("c", 4, "c")))
	if err != nil {
		t.Fatal(err)
	}
	var sweptIDs []string
	for _, k := range swept {
		sweptIDs = append(sweptIDs, k.ID)
	}
	slices.Sort(sweptIDs)
	if !slices.Equal(sweptIDs, []string{"b", "d"}) {
		t.Errorf("swept %v, want [b d]", sweptIDs)
	}
	if got, want := liveIDs(t, db), []string{"a", "c", "e", "t1"}; !slices.Equal(got, want) {
		t.Errorf("live records %v, want %v", got, want)
	}
	if got, _ := fieldsOf(t, db, store.RecordKey{CID: cid, Collection: "tasks", ID: "b"}); got != "deleted" {
		t.Errorf("b = %s, want a tombstone", got)
	}
	if f := fetches(t, db); len(f) != 0 {
		t.Fatalf("fetches after the last page = %+v", f)
	}
	// A page of a channel with no fetch under way stores nothing.
	if _, err := db.ApplyRecordsPage(ctx, cid, recordsPage(40, "", rec("z", 40, "z"))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetRecord(ctx, store.RecordKey{CID: cid, Collection: "tasks", ID: "z"}); err == nil {
		t.Errorf("a page with no fetch under way stored its record")
	}
	// A page naming another channel's record is refused.
	if err := db.ApplySyncStates(ctx, []protocol.ChannelResponse{state(cid, "e2", 40)}, nil); err != nil {
		t.Fatal(err)
	}
	other := rec("x", 40, "x")
	other.CID = "team:other"
	if _, err := db.ApplyRecordsPage(ctx, cid, recordsPage(40, "", other)); err == nil {
		t.Errorf("a page with another channel's record was stored")
	}
	// A channel the user can no longer read ends its fetch.
	if err := db.ApplySyncStates(ctx, nil, []string{cid}); err != nil {
		t.Fatal(err)
	}
	if f := fetches(t, db); len(f) != 0 {
		t.Fatalf("fetches after the channel went = %+v", f)
	}
}
