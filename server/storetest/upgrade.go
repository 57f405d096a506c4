package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// RedactionUpgradeRows are the rows of a database of the schema before
// redaction (SQL both stores take): a channel whose log holds a
// hard-deleted message (its events, and the hard delete with its text),
// a message before a truncate, and a message after it, with the old
// tombstone of the hard delete among the idempotency keys. Write them,
// open the store (which upgrades it), and check it with
// CheckRedactionUpgrade.
var RedactionUpgradeRows = []string{
	`INSERT INTO channels (cid, epoch, last_activity, last_seq, last_event_id, data) VALUES
		('team:a', 'e', 1, 7, 'a7', '{"cid":"team:a","type":"team","id":"a"}')`,
	`INSERT INTO members (cid, user_id, data) VALUES ('team:a', 'u', '{}')`,
	`INSERT INTO events (id, cid, seq, created_at, payload) VALUES
		('a1', 'team:a', 1, 10, '{"id":"a1","type":"member.added","cid":"team:a","seq":1,"member":{"user_id":"u"}}'),
		('a2', 'team:a', 2, 11, '{"id":"a2","type":"message.new","cid":"team:a","seq":2,"message":{"id":"m-del","text":"SECRET 1"}}'),
		('a3', 'team:a', 3, 12, '{"id":"a3","type":"reaction.new","cid":"team:a","seq":3,"message":{"id":"m-del","text":"SECRET 1"},"reaction":{"message_id":"m-del"}}'),
		('a4', 'team:a', 4, 13, '{"id":"a4","type":"message.deleted","cid":"team:a","seq":4,"hard_delete":true,"message":{"id":"m-del","text":"SECRET 1","version":4}}'),
		('a5', 'team:a', 5, 14, '{"id":"a5","type":"message.new","cid":"team:a","seq":5,"message":{"id":"m-trunc","text":"SECRET 2"}}'),
		('a6', 'team:a', 6, 15, '{"id":"a6","type":"channel.truncated","cid":"team:a","seq":6,"channel":{"cid":"team:a"}}'),
		('a7', 'team:a', 7, 16, '{"id":"a7","type":"message.new","cid":"team:a","seq":7,"message":{"id":"m-keep","text":"kept"}}')`,
	`INSERT INTO messages (id, cid, seq, created_at, data) VALUES ('m-keep', 'team:a', 7, 16, '{"id":"m-keep","cid":"team:a"}')`,
	`INSERT INTO idempotency (user_id, key, result, created_at) VALUES ('', 'deleted:m-del', '{}', 13), ('u', 'k', '{}', 13)`,
}

// CheckRedactionUpgrade checks a store opened on RedactionUpgradeRows:
// what was removed is redacted (the events of the hard-deleted message
// and of the message before the truncate, and the hard delete's text),
// the tombstones of both are kept for good, the channel says where its
// truncate stands, and every other event and key is as it was.
func CheckRedactionUpgrade(t *testing.T, st server.Store) {
	t.Helper()
	err := st.View(ctx, func(tx server.Tx) error {
		evs, err := tx.ChannelEvents("team:a", 0, 100)
		if err != nil {
			return err
		}
		if len(evs) != 7 {
			t.Fatalf("%d events after the upgrade, want 7", len(evs))
		}
		for _, e := range evs {
			var ev protocol.Event
			if err := json.Unmarshal(e.Payload, &ev); err != nil {
				return err
			}
			if strings.Contains(string(e.Payload), "SECRET") {
				t.Errorf("event %d keeps removed content: %s", e.Seq, e.Payload)
			}
			wantRedacted := e.Seq == 2 || e.Seq == 3 || e.Seq == 5
			if ev.Redacted != wantRedacted || ev.ID != e.ID || ev.Seq != e.Seq {
				t.Errorf("event %d: %s, want redacted %v", e.Seq, e.Payload, wantRedacted)
			}
			if wantRedacted && (ev.Message == nil || !ev.Message.Redacted || ev.Message.ID == "") {
				t.Errorf("redacted event %d names no removed message: %s", e.Seq, e.Payload)
			}
		}
		var del protocol.Event
		if err := json.Unmarshal(evs[3].Payload, &del); err != nil || del.Message == nil || !del.Message.Redacted ||
			del.Message.ID != "m-del" || del.Message.Version != 4 || !del.HardDelete {
			t.Errorf("the hard delete after the upgrade: %s", evs[3].Payload)
		}
		removed, err := tx.RemovedMessages([]string{"m-del", "m-trunc", "m-keep"})
		slices.Sort(removed)
		if err != nil || !slices.Equal(removed, []string{"m-del", "m-trunc"}) {
			t.Errorf("removed = %v, %v, want [m-del m-trunc]", removed, err)
		}
		if _, err := tx.IdempotentResult("", "deleted:m-del"); !errors.Is(err, server.ErrNotFound) {
			t.Errorf("the old tombstone is still an idempotency key: %v", err)
		}
		if _, err := tx.IdempotentResult("u", "k"); err != nil {
			t.Errorf("a user's idempotency key went: %v", err)
		}
		if ch, err := tx.Channel("team:a"); err != nil || ch.TruncatedSeq != 6 {
			t.Errorf("the channel after the upgrade: %+v, %v, want truncated_seq 6", ch, err)
		}
		content, err := tx.ContentEvents("team:a", "", 0, 100, 100)
		if err != nil || len(content) != 1 || content[0].Seq != 7 {
			t.Errorf("content events after the upgrade = %+v, %v, want seq 7 alone", content, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
