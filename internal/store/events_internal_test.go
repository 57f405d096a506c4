package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// A plain message.new binds the nine columns that differ from message to
// message, not the twelve of a message row.
func TestBuildQueries_PlainMessageBindsLess(t *testing.T) {
	ev := &protocol.Event{ID: "e1", Type: protocol.EventMessageNew, CID: "team:a", Seq: 4,
		Message: &protocol.Message{ID: "m1", CID: "team:a", UserID: "u", Text: "hi", Version: 4}}
	qs, _, err := buildQueries(ev)
	if err != nil || len(qs) != 1 {
		t.Fatalf("buildQueries = %v, %v", qs, err)
	}
	if qs[0].tmpl != plainMessage || len(qs[0].Args) != 9 {
		t.Errorf("a plain message.new binds %d args (template %p, want plainMessage)", len(qs[0].Args), qs[0].tmpl)
	}
	ev.Message.Extra = []byte(`{"k":1}`)
	if qs, _, _ := buildQueries(ev); qs[0].tmpl != upsertMessage {
		t.Errorf("a message with extra data does not take the whole row")
	}
}

// Runs of any length split into statements of a few row counts (powers of
// two up to maxMergedRows), so each template's statements stay prepared
// whatever length a page's runs have.
func TestMergedRows_FewStatementSizes(t *testing.T) {
	sizes := map[int]bool{}
	for n := 1; n <= 3*maxMergedRows; n++ {
		left := n
		for left > 0 {
			r := mergedRows(left)
			if r < 1 || r > left || r > maxMergedRows || r&(r-1) != 0 || 2*r <= min(left, maxMergedRows) {
				t.Fatalf("mergedRows(%d) = %d: want the largest power of two up to %d", left, r, min(left, maxMergedRows))
			}
			sizes[r] = true
			left -= r
		}
	}
	if len(sizes) != 7 {
		t.Errorf("runs of 1 to %d rows took %d statement sizes, want 7", 3*maxMergedRows, len(sizes))
	}
}

// A run of record upserts writes a record once when its highest version
// comes last with its creator: the upserts it overwrites are dropped.
func TestDropSupersededRecords_WritesARecordOnce(t *testing.T) {
	var qs []Query
	for v := int64(1); v <= 3; v++ {
		for _, id := range []string{"t1", "t2"} {
			ev := &protocol.Event{ID: fmt.Sprint(id, v), Type: protocol.EventRecordUpdated, CID: "team:a", Seq: v,
				Record: &protocol.Record{CID: "team:a", Collection: "tasks", ID: id, Version: v, CreatedBy: "alice",
					CreatedAt: time.Unix(1, 0), Fields: map[string]json.RawMessage{"n": json.RawMessage(fmt.Sprint(v))}}}
			q, _, err := buildQueries(ev)
			if err != nil {
				t.Fatal(err)
			}
			qs = append(qs, q...)
		}
	}
	kept := dropSupersededRecords(qs)
	if len(kept) != 2 || kept[0].EventID != "t13" || kept[1].EventID != "t23" {
		t.Errorf("kept %d upserts of 6 (%v), want the two at version 3", len(kept), kept)
	}
	if len(qs) != 6 || qs[0].EventID != "t11" {
		t.Errorf("the batch's queries changed: %v", qs)
	}
}
