package sqlitestore

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"

	"github.com/outpostsync/outpost/migrations"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/storetest"
)

// openUpgraded makes a database with the schema's first version
// migrations applied, writes rows in it, and opens it as a Store, which
// applies the others. The Store is closed when t ends.
func openUpgraded(t *testing.T, version int, rows []string) *Store {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(schemaFS, "schema")
	set, err := migrations.Load("outpost_server", sub)
	if err != nil {
		t.Fatal(err)
	}
	set.Migrations = set.Migrations[:version]
	if err := migrations.Apply(ctx, db, set); err != nil {
		t.Fatal(err)
	}
	for _, q := range rows {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestOpen_UpgradesAVersion1Database: a database written by the schema of
// version 1 opens with its data: every channel gets its own epoch, a
// pruned channel its prune mark, each log its head's event id, and
// messages keep their order, by the seq of their message.new event, or
// before those when it was pruned.
func TestOpen_UpgradesAVersion1Database(t *testing.T) {
	ctx := context.Background()
	st := openUpgraded(t, 1, []string{
		`INSERT INTO channels (cid, last_activity, last_seq, pruned_at, data) VALUES
			('team:a', 1, 4, 0, '{"cid":"team:a","type":"team","id":"a"}'),
			('team:b', 1, 5, 1000, '{"cid":"team:b","type":"team","id":"b"}')`,
		`INSERT INTO members (cid, user_id, data) VALUES ('team:a', 'u', '{}'), ('team:b', 'u', '{}')`,
		// team:a keeps its whole log; team:b lost seqs 1 to 3.
		`INSERT INTO events (id, cid, seq, created_at, payload) VALUES
			('a1', 'team:a', 1, 10, '{"id":"a1","type":"channel.created","cid":"team:a","seq":1}'),
			('a2', 'team:a', 2, 11, '{"id":"a2","type":"message.new","cid":"team:a","seq":2,"message":{"id":"m2"}}'),
			('a3', 'team:a', 3, 12, '{"id":"a3","type":"message.new","cid":"team:a","seq":3,"message":{"id":"m1"}}'),
			('a4', 'team:a', 4, 13, '{"id":"a4","type":"message.updated","cid":"team:a","seq":4,"message":{"id":"m2"}}'),
			('b4', 'team:b', 4, 14, '{"id":"b4","type":"message.new","cid":"team:b","seq":4,"message":{"id":"n3"}}'),
			('b5', 'team:b', 5, 15, '{"id":"b5","type":"message.new","cid":"team:b","seq":5,"message":{"id":"n4"}}')`,
		`INSERT INTO messages (id, cid, created_at, data) VALUES
			('m2', 'team:a', 11, '{"id":"m2","cid":"team:a"}'),
			('m1', 'team:a', 12, '{"id":"m1","cid":"team:a"}'),
			('n2', 'team:b', 2, '{"id":"n2","cid":"team:b"}'),
			('n1', 'team:b', 1, '{"id":"n1","cid":"team:b"}'),
			('n4', 'team:b', 15, '{"id":"n4","cid":"team:b"}'),
			('n3', 'team:b', 14, '{"id":"n3","cid":"team:b"}')`,
	})
	err := st.View(ctx, func(tx server.Tx) error {
		logs, err := tx.ChannelLogs("u")
		if err != nil {
			return err
		}
		if len(logs) != 2 || logs[0].Epoch == "" || logs[1].Epoch == "" || logs[0].Epoch == logs[1].Epoch {
			t.Errorf("epochs after the upgrade: %+v", logs)
		}
		if a := logs[0]; a.LastSeq != 4 || a.LastEventID != "a4" || a.PrunedSeq != 0 {
			t.Errorf("team:a = %+v", a)
		}
		if b := logs[1]; b.LastSeq != 5 || b.LastEventID != "b5" || b.PrunedSeq != 3 {
			t.Errorf("team:b = %+v, want pruned at 3", b)
		}
		for cid, want := range map[string][]string{"team:a": {"m2", "m1"}, "team:b": {"n1", "n2", "n3", "n4"}} {
			ms, err := tx.Messages(cid, server.MessagesPage{Limit: 10})
			if err != nil {
				return err
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s messages = %v, want %v", cid, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The upgraded log goes on.
	err = st.Update(ctx, func(tx server.Tx) error {
		pos, err := tx.NextPosition("team:b", "b6")
		if err != nil || pos.Seq != 6 {
			t.Errorf("next position = %+v, %v", pos, err)
		}
		return tx.AppendEvent(protocol.Event{ID: "b6", Type: protocol.EventMessageRead, CID: "team:b", Seq: pos.Seq, Epoch: pos.Epoch})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpen_RedactsWhatWasRemovedBefore: a database of the schema before
// redaction opens with what was removed already redacted (see
// storetest.RedactionUpgradeRows).
func TestOpen_RedactsWhatWasRemovedBefore(t *testing.T) {
	storetest.CheckRedactionUpgrade(t, openUpgraded(t, 5, storetest.RedactionUpgradeRows))
}
