package store_test

import (
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

func TestSmoke(t *testing.T) {
	db := openTestDB(t)
	apply(t, db,
		msgEvent(protocol.EventMessageNew, "team:a", "m1", "hello", 1),
		msgEvent(protocol.EventMessageNew, "team:a", "m2", "world", 2),
		msgEvent(protocol.EventMessageUpdated, "team:a", "m1", "hello!", 3),
	)
	m := mustMessage(t, db, "m1")
	if m.Text != "hello!" || m.Version != 3 {
		t.Fatalf("m1 = %+v", m)
	}
}
