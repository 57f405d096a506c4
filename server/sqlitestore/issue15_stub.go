package sqlitestore

// This file stands in, on branch issue15, for the event-log reads of the
// sync v2 store (branch v2server): delete it at merge.

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/outpostsync/outpost/server"
)

// ChannelLog implements server.Tx. The v1 schema has no epoch: it is "".
func (t *tx) ChannelLog(cid string) (server.LogState, error) {
	var last int64
	err := t.st.Get(t.ctx, &last, `SELECT last_seq FROM channels WHERE cid = ?`, cid)
	if errors.Is(err, sql.ErrNoRows) {
		return server.LogState{}, server.ErrNotFound
	}
	if err != nil {
		return server.LogState{}, fmt.Errorf("sqlitestore: channel log: %w", err)
	}
	var first sql.NullInt64
	if err := t.st.Get(t.ctx, &first, `SELECT min(seq) FROM events WHERE cid = ?`, cid); err != nil {
		return server.LogState{}, fmt.Errorf("sqlitestore: channel log: %w", err)
	}
	pruned := last
	if first.Valid {
		pruned = first.Int64 - 1
	}
	return server.LogState{LastSeq: last, PrunedSeq: pruned}, nil
}

// ChannelEvents implements server.Tx.
func (t *tx) ChannelEvents(cid string, afterSeq int64, limit int) ([]server.StoredEvent, error) {
	var rows []struct {
		Seq       int64  `db:"seq"`
		ID        string `db:"id"`
		CreatedAt int64  `db:"created_at"`
		Payload   string `db:"payload"`
	}
	if err := t.tx.SelectContext(t.ctx, &rows, `SELECT seq, id, created_at, payload FROM events WHERE cid = ? AND seq > ? ORDER BY seq LIMIT ?`,
		cid, afterSeq, limit); err != nil {
		return nil, fmt.Errorf("sqlitestore: channel events: %w", err)
	}
	out := make([]server.StoredEvent, len(rows))
	for i, r := range rows {
		out[i] = server.StoredEvent{Seq: r.Seq, ID: r.ID, CreatedAt: time.UnixMicro(r.CreatedAt).UTC(), Payload: json.RawMessage(r.Payload)}
	}
	return out, nil
}
