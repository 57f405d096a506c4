package engine

import (
	"testing"

	"github.com/outpostsync/outpost/internal/changelog"
)

// The change log stores the kinds of change as syncmanager.ChangeKind
// bits, so the two must agree.
func TestChangeKindsAreTheLogs(t *testing.T) {
	pairs := []struct {
		kind ChangeKind
		log  uint8
	}{
		{ChangeLive, changelog.Live},
		{ChangeSync, changelog.Sync},
		{ChangeReset, changelog.Reset},
		{ChangeWrite, changelog.Write},
		{ChangeTask, changelog.Task},
	}
	for _, p := range pairs {
		if uint8(p.kind) != p.log {
			t.Errorf("ChangeKind %d, change log kind %d", p.kind, p.log)
		}
	}
	if MaxChangeIDs != changelog.MaxIDs {
		t.Errorf("MaxChangeIDs %d, changelog.MaxIDs %d", MaxChangeIDs, changelog.MaxIDs)
	}
}
