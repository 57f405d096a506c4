package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

var fuzzSeeds = []string{
	`{"id":"e1","type":"message.new","cid":"team:a","seq":1,"created_at":"2026-11-01T12:00:00Z","message":{"id":"m1","cid":"team:a","user_id":"u","text":"hi","version":1}}`,
	`{"id":"e2","type":"message.deleted","cid":"team:a","seq":2,"created_at":"2026-11-01T12:00:01Z","hard_delete":true,"message":{"id":"m1","version":2}}`,
	`{"id":"e3","type":"reaction.new","cid":"team:a","seq":3,"created_at":"2026-11-01T12:00:02Z","reaction":{"message_id":"m1","user_id":"u","type":"like","version":3},"message":{"id":"m1","reaction_counts":{"like":1},"version":3}}`,
	`{"id":"e4","type":"channel.truncated","cid":"team:a","seq":4,"created_at":"2026-11-01T12:00:03Z"}`,
	`{"id":"e5","type":"member.added","cid":"team:b","seq":1,"created_at":"2026-11-01T12:00:04Z","member":{"cid":"team:b","user_id":"u","version":1}}`,
	`{"id":"e6","type":"notification.removed_from_channel","cid":"team:b","seq":2,"created_at":"2026-11-01T12:00:05Z","member":{"cid":"team:b","user_id":"u","version":2}}`,
	`{"id":"e7","type":"message.read","cid":"team:a","seq":5,"created_at":"2026-11-01T12:00:06Z","read":{"cid":"team:a","user_id":"u","version":5}}`,
	`{"id":"e8","type":"user.updated","created_at":"2026-11-01T12:00:07Z","user":{"id":"u","name":"'); DROP TABLE messages;--","version":9}}`,
	`{"id":"e9","type":"channel.updated","cid":"team:a","seq":6,"created_at":"2026-11-01T12:00:08Z","channel":{"cid":"team:a","version":6,"extra":{"a":[1,{"b":null}]}}}`,
	`{"id":"e10","type":"message.new","cid":"team:a","seq":9223372036854775807,"created_at":"2026-11-01T12:00:00Z","message":{"id":"m2","version":-5}}`,
	`{"id":"e11","type":"channel.hidden","cid":"team:a","seq":7,"created_at":"2026-11-01T12:00:09Z"}`,
	`{"id":"e12","type":"message.new","cid":"team:a","seq":"x"}`,
	`{"id":null,"type":"message.new","message":null}`,
	`{"type":"poll.created","id":"p","created_at":"2026-11-01T12:00:00Z"}`,
}

// FuzzApplyEvent decodes arbitrary bytes as an event and applies it:
// ApplyEvent must never panic, and the store must stay intact.
func FuzzApplyEvent(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	var once sync.Once
	var db *store.DB
	dir := f.TempDir()
	f.Cleanup(func() {
		if db != nil {
			db.Close()
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		once.Do(func() {
			var err error
			if db, err = store.Open(context.Background(), filepath.Join(dir, "fuzz.db"), store.Options{}); err != nil {
				t.Fatal(err)
			}
		})
		ctx := context.Background()
		ev, err := protocol.DecodeEvent(data)
		if err != nil {
			return
		}
		_ = db.ApplyEvent(ctx, ev)
		if err := db.IntegrityCheck(ctx); err != nil {
			t.Fatalf("integrity after %s: %v", data, err)
		}
	})
}
