package changelog_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/jmoiron/sqlx"
	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/internal/changelog"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLog_PrunedAndLost: the log keeps about its newest Keep rows, and a
// reader whose next row was pruned is told it lost changes.
func TestLog_PrunedAndLost(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	x := sqlx.NewDb(db.SQLDB(), "sqlite")
	start, err := changelog.Last(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	const n = changelog.Keep + 1000
	tx := x.MustBeginTx(ctx, nil)
	for i := range n {
		note := &changelog.Note{Kind: changelog.Write}
		note.Task("team:a", "m"+strconv.Itoa(i), "", "")
		if err := changelog.Append(ctx, tx, "test", note); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := x.Get(&rows, `SELECT count(*) FROM change_log`); err != nil {
		t.Fatal(err)
	}
	if rows > changelog.Keep+64 || rows < changelog.Keep {
		t.Fatalf("the log holds %d rows, want about %d", rows, changelog.Keep)
	}
	last, err := changelog.Last(ctx, x)
	if err != nil || last != start+n {
		t.Fatalf("Last = %d, %v; want %d", last, err, start+n)
	}
	if _, lost, err := changelog.Since(ctx, x, start, 10); err != nil || !lost {
		t.Fatalf("a reader from the start: lost %v, %v; want lost", lost, err)
	}
	entries, lost, err := changelog.Since(ctx, x, last-2, 10)
	if err != nil || lost || len(entries) != 2 {
		t.Fatalf("a reader 2 behind: %d entries, lost %v, %v", len(entries), lost, err)
	}
	if got := entries[1].Messages; len(got) != 1 || got[0] != "m"+strconv.Itoa(n-1) {
		t.Fatalf("last entry's messages %v", got)
	}
}

// TestLog_Records: a note's record keys are logged and read back, so
// other processes hear which records changed.
func TestLog_Records(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	x := sqlx.NewDb(db.SQLDB(), "sqlite")
	start, err := changelog.Last(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	note := &changelog.Note{Kind: changelog.Write}
	note.Task("team:a", "", "tasks", "t2")
	note.Record(offlinedb.RecordKey{CID: "team:a", Collection: "tasks", ID: "t1"})
	tx := x.MustBeginTx(ctx, nil)
	if err := changelog.Append(ctx, tx, "test", note); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	entries, _, err := changelog.Since(ctx, x, start, 10)
	if err != nil || len(entries) != 1 {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	var got changelog.Note
	got.Add(entries[0])
	want := []offlinedb.RecordKey{{CID: "team:a", Collection: "tasks", ID: "t1"}, {CID: "team:a", Collection: "tasks", ID: "t2"}}
	if keys := got.RecordKeys(); !reflect.DeepEqual(keys, want) {
		t.Fatalf("records read back %v, want %v", keys, want)
	}
}
