package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

// TestHostileInput: texts and ids that break naive SQL, invalid UTF-8 and a
// 1 MiB text round-trip exactly, and the store stays intact.
func TestHostileInput(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	texts := map[string]string{
		"sql":     `'); DROP TABLE messages;-- " ; DELETE FROM channels WHERE 1=1 /* %_ */`,
		"utf8":    "caf\xc3\xa9 \xff\xfe broken \xc3",
		"huge":    strings.Repeat("x", 1<<20),
		"control": "tab\tnew\nline\rcr\x01\x1f",
		"empty":   "",
	}
	seq := int64(0)
	for name, text := range texts {
		seq++
		ev := msgEvent(protocol.EventMessageNew, "team:a", "id-'\"-"+name, text, seq)
		ev.Message.Extra = []byte(`{"nested":{"q":"'; DROP TABLE users;--","list":[1,2,{"x":null}]}}`)
		if err := db.ApplyEvent(ctx, ev); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := mustMessage(t, db, "id-'\"-"+name)
		if got.Text != text {
			t.Errorf("%s: text changed on the round trip (%d bytes -> %d)", name, len(text), len(got.Text))
		}
		if string(got.Extra) != string(ev.Message.Extra) {
			t.Errorf("%s: extra = %s", name, got.Extra)
		}
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if pos, err := db.SyncPositions(ctx); err != nil || len(pos.Channels) != 1 {
		t.Errorf("channels = %v, %v", pos.Channels, err)
	}
}
