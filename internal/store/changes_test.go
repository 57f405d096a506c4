package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/outpostsync/outpost/internal/changelog"
)

// TestChangeLog_HistoryAndHidden: a page of history stored and a channel
// hidden are changes the app hears, so they reach the change log that
// other processes on the store read; a page not stored writes nothing.
func TestChangeLog_HistoryAndHidden(t *testing.T) {
	ctx := context.Background()
	db, _ := histDB(t)
	last, err := db.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	since := func() []changelog.Entry {
		t.Helper()
		es, lost, err := db.ChangesSince(ctx, last, 100)
		if err != nil || lost {
			t.Fatalf("ChangesSince: %v, lost %v", err, lost)
		}
		if len(es) > 0 {
			last = es[len(es)-1].ID
		}
		return es
	}

	if res, err := db.ApplyHistoryPage(ctx, histCID, histPage(50, 80, 100, 60)); err != nil || res.Stored {
		t.Fatalf("a page with a hole: %+v, %v; want not stored", res, err)
	}
	if es := since(); len(es) != 0 {
		t.Fatalf("a page not stored logged %+v", es)
	}
	if _, err := db.ApplyHistoryPage(ctx, histCID, histPage(60, 89, 100, 60, 89)); err != nil {
		t.Fatal(err)
	}
	es := since()
	if len(es) != 1 || es[0].Kind != changelog.Sync || !slices.Equal(es[0].Channels, []string{histCID}) ||
		!slices.Equal(es[0].Messages, []string{"m060", "m089"}) || es[0].Origin != db.Origin() {
		t.Fatalf("a page stored logged %+v, want one sync row of %s, m060 and m089", es, histCID)
	}

	if err := db.SetChannelHidden(ctx, histCID, true); err != nil {
		t.Fatal(err)
	}
	es = since()
	if len(es) != 1 || !slices.Equal(es[0].Channels, []string{histCID}) {
		t.Fatalf("a channel hidden logged %+v, want one row of %s", es, histCID)
	}
}
