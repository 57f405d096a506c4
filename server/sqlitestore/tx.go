package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/stmtcache"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// tx implements server.Tx on a SQL transaction.
type tx struct {
	tx  *sqlx.Tx
	st  *stmtcache.Tx // the fixed queries, prepared once per connection
	ctx context.Context
	now time.Time
}

func (t *tx) Now() time.Time { return t.now }

func (t *tx) getJSON(v any, query string, args ...any) error {
	var data string
	err := t.st.Get(t.ctx, &data, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return server.ErrNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(data), v)
}

func selectJSON[T any](t *tx, query string, args ...any) ([]T, error) {
	var rows []string
	if err := t.st.Select(t.ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// query runs query with args and calls each for every row.
func (t *tx) query(each func(rows *sql.Rows) error, query string, args ...any) error {
	st, err := t.st.Stmt(t.ctx, query)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(t.ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *tx) exec(query string, args ...any) error {
	return t.st.Exec(t.ctx, query, args...)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // wire types always marshal
	}
	return string(b)
}

func (t *tx) User(id string) (u protocol.User, err error) {
	return u, t.getJSON(&u, `SELECT data FROM users WHERE id = ?`, id)
}

func (t *tx) PutUser(u protocol.User) error {
	return t.exec(`INSERT INTO users (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data`, u.ID, mustJSON(u))
}

func (t *tx) Channel(cid string) (c protocol.Channel, err error) {
	return c, t.getJSON(&c, `SELECT data FROM channels WHERE cid = ?`, cid)
}

func activity(c protocol.Channel) int64 {
	if c.LastMessageAt != nil {
		return c.LastMessageAt.UnixMicro()
	}
	return c.CreatedAt.UnixMicro()
}

func (t *tx) PutChannel(c protocol.Channel) error {
	return t.exec(`INSERT INTO channels (cid, epoch, last_activity, data) VALUES (?, ?, ?, ?)
ON CONFLICT (cid) DO UPDATE SET last_activity = excluded.last_activity, data = excluded.data`, c.CID, newEpoch(), activity(c), mustJSON(c))
}

// CreateChannel inserts c's row; SQLite's single writer leaves no other
// creation running meanwhile.
func (t *tx) CreateChannel(c protocol.Channel) error {
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO channels (cid, epoch, last_activity, data) VALUES (?, ?, ?, ?)
ON CONFLICT (cid) DO NOTHING`, c.CID, newEpoch(), activity(c), mustJSON(c))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return server.ErrExists
	}
	return nil
}

func (t *tx) UserChannels(userID string, limit, offset int) ([]protocol.Channel, error) {
	return selectJSON[protocol.Channel](t, `SELECT c.data FROM channels c JOIN members m ON m.cid = c.cid
WHERE m.user_id = ? ORDER BY c.last_activity DESC, c.cid LIMIT ? OFFSET ?`, userID, limit, offset)
}

func (t *tx) UserChannelIDs(userID string) ([]string, error) {
	var ids []string
	err := t.st.Select(t.ctx, &ids, `SELECT cid FROM members WHERE user_id = ? ORDER BY cid`, userID)
	return ids, err
}

func (t *tx) Member(cid, userID string) (m protocol.Member, err error) {
	return m, t.getJSON(&m, `SELECT data FROM members WHERE cid = ? AND user_id = ?`, cid, userID)
}

func (t *tx) MemberIDs(cid string) ([]string, error) {
	// Scanned by hand: every write's fan-out reads all its channel's
	// members, and sqlx's reflection per row was most of the cost.
	var ids []string
	err := t.query(func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	}, `SELECT user_id FROM members WHERE cid = ? ORDER BY user_id`, cid)
	return ids, err
}

func (t *tx) Members(cid string) ([]protocol.Member, error) {
	return selectJSON[protocol.Member](t, `SELECT data FROM members WHERE cid = ? ORDER BY user_id`, cid)
}

func (t *tx) PutMember(m protocol.Member) error {
	return t.exec(`INSERT INTO members (cid, user_id, data) VALUES (?, ?, ?)
ON CONFLICT (cid, user_id) DO UPDATE SET data = excluded.data`, m.CID, m.UserID, mustJSON(m))
}

func (t *tx) DeleteMember(cid, userID string) error {
	return t.exec(`DELETE FROM members WHERE cid = ? AND user_id = ?`, cid, userID)
}

func (t *tx) ChannelHidden(cid, userID string) (bool, error) {
	var hidden bool
	err := t.st.Get(t.ctx, &hidden, `SELECT hidden FROM members WHERE cid = ? AND user_id = ?`, cid, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, server.ErrNotFound
	}
	return hidden, err
}

func (t *tx) HiddenChannelIDs(userID string) ([]string, error) {
	var ids []string
	err := t.st.Select(t.ctx, &ids, `SELECT cid FROM members WHERE user_id = ? AND hidden ORDER BY cid`, userID)
	return ids, err
}

func (t *tx) SetChannelHidden(cid, userID string, hidden bool) error {
	var got string
	err := t.st.Get(t.ctx, &got, `UPDATE members SET hidden = ? WHERE cid = ? AND user_id = ? RETURNING cid`, hidden, cid, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return server.ErrNotFound
	}
	return err
}

func (t *tx) Message(id string) (m protocol.Message, err error) {
	return m, t.getJSON(&m, `SELECT data FROM messages WHERE id = ?`, id)
}

func (t *tx) Messages(cid string, p server.MessagesPage) ([]protocol.Message, error) {
	// A page starts after or before a message's place (seq, id).
	switch {
	case p.After != nil:
		return selectJSON[protocol.Message](t, `SELECT m.data FROM messages m, (SELECT seq, id FROM messages WHERE id = ?2) p
WHERE m.cid = ?1 AND (m.seq > p.seq OR (m.seq = p.seq AND m.id > p.id)) ORDER BY m.seq, m.id LIMIT ?3`,
			cid, p.After.ID, p.Limit)
	case p.Before != nil:
		return reversed(selectJSON[protocol.Message](t, `SELECT m.data FROM messages m, (SELECT seq, id FROM messages WHERE id = ?2) p
WHERE m.cid = ?1 AND (m.seq < p.seq OR (m.seq = p.seq AND m.id < p.id)) ORDER BY m.seq DESC, m.id DESC LIMIT ?3`,
			cid, p.Before.ID, p.Limit))
	case p.BeforeSeq > 0:
		return reversed(selectJSON[protocol.Message](t, `SELECT data FROM messages WHERE cid = ?1 AND seq < ?2
ORDER BY seq DESC, id DESC LIMIT ?3`, cid, p.BeforeSeq, p.Limit))
	default:
		return reversed(selectJSON[protocol.Message](t, `SELECT data FROM messages WHERE cid = ?1
ORDER BY seq DESC, id DESC LIMIT ?2`, cid, p.Limit))
	}
}

func reversed(ms []protocol.Message, err error) ([]protocol.Message, error) {
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms, err
}

func (t *tx) PutMessage(m protocol.Message) error {
	seq := m.Seq
	if seq == 0 {
		seq = m.Version
	}
	return t.exec(`INSERT INTO messages (id, cid, seq, created_at, data) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET data = excluded.data`, m.ID, m.CID, seq, m.CreatedAt.UnixMicro(), mustJSON(m))
}

func (t *tx) DeleteMessage(id string) error {
	if err := t.exec(`DELETE FROM reactions WHERE message_id = ?`, id); err != nil {
		return err
	}
	if err := t.exec(`INSERT INTO removed_messages (id) VALUES (?) ON CONFLICT (id) DO NOTHING`, id); err != nil {
		return err
	}
	return t.exec(`DELETE FROM messages WHERE id = ?`, id)
}

func (t *tx) RemovedMessages(ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []string
	err := t.st.Select(t.ctx, &out, `SELECT id FROM removed_messages WHERE id IN (SELECT value FROM json_each(?))`, mustJSON(ids))
	return out, err
}

func (t *tx) Reaction(messageID, userID, typ string) (r protocol.Reaction, err error) {
	return r, t.getJSON(&r, `SELECT data FROM reactions WHERE message_id = ? AND user_id = ? AND type = ?`, messageID, userID, typ)
}

func (t *tx) Reactions(messageID string) ([]protocol.Reaction, error) {
	return selectJSON[protocol.Reaction](t, `SELECT data FROM reactions WHERE message_id = ? ORDER BY user_id, type`, messageID)
}

func (t *tx) PutReaction(r protocol.Reaction) error {
	return t.exec(`INSERT INTO reactions (message_id, user_id, type, data) VALUES (?, ?, ?, ?)
ON CONFLICT (message_id, user_id, type) DO UPDATE SET data = excluded.data`, r.MessageID, r.UserID, r.Type, mustJSON(r))
}

func (t *tx) DeleteReaction(messageID, userID, typ string) error {
	return t.exec(`DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND type = ?`, messageID, userID, typ)
}

func (t *tx) Read(cid, userID string) (r protocol.Read, err error) {
	return r, t.getJSON(&r, `SELECT data FROM reads WHERE cid = ? AND user_id = ?`, cid, userID)
}

func (t *tx) Reads(cid string) ([]protocol.Read, error) {
	return selectJSON[protocol.Read](t, `SELECT data FROM reads WHERE cid = ? ORDER BY user_id`, cid)
}

func (t *tx) PutRead(r protocol.Read) error {
	return t.exec(`INSERT INTO reads (cid, user_id, data) VALUES (?, ?, ?)
ON CONFLICT (cid, user_id) DO UPDATE SET data = excluded.data`, r.CID, r.UserID, mustJSON(r))
}

func (t *tx) IdempotentResult(userID, key string) ([]byte, error) {
	var res string
	err := t.st.Get(t.ctx, &res, `SELECT result FROM idempotency WHERE user_id = ? AND key = ?`, userID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, server.ErrNotFound
	}
	return []byte(res), err
}

func (t *tx) PutIdempotentResult(userID, key string, result []byte) error {
	return t.exec(`INSERT INTO idempotency (user_id, key, result, created_at) VALUES (?, ?, ?, ?)`,
		userID, key, string(result), t.now.UnixMicro())
}

func (t *tx) Record(cid, collection, id string) (r protocol.Record, err error) {
	return r, t.getJSON(&r, `SELECT data FROM records WHERE cid = ? AND collection = ? AND id = ?`, cid, collection, id)
}

func (t *tx) PutRecord(r protocol.Record) error {
	return t.exec(`INSERT INTO records (cid, collection, id, deleted, data) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (cid, collection, id) DO UPDATE SET deleted = excluded.deleted, data = excluded.data`,
		r.CID, r.Collection, r.ID, r.Deleted, mustJSON(r))
}

func (t *tx) Records(cid string, after server.RecordKey, limit int) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := t.query(func(rows *sql.Rows) error {
		var data []byte
		err := rows.Scan(&data)
		out = append(out, data)
		return err
	}, `SELECT data FROM records
WHERE cid = ? AND (collection, id) > (?, ?) AND NOT deleted ORDER BY collection, id LIMIT ?`,
		cid, after.Collection, after.ID, limit)
	return out, err
}

func (t *tx) DeleteRecords(cid string) error {
	return t.exec(`DELETE FROM records WHERE cid = ?`, cid)
}

func (t *tx) RecordRulesVersion() (int64, error) {
	var v int64
	err := t.st.Get(t.ctx, &v, `SELECT coalesce(max(version), 0) FROM record_rules`)
	return v, err
}

func (t *tx) RecordRules() (server.StoredRules, error) {
	var row struct {
		Version   int64  `db:"version"`
		Hash      string `db:"hash"`
		Source    string `db:"source"`
		CreatedAt int64  `db:"created_at"`
	}
	err := t.st.Get(t.ctx, &row, `SELECT version, hash, source, created_at FROM record_rules ORDER BY version DESC LIMIT 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return server.StoredRules{}, server.ErrNotFound
	}
	if err != nil {
		return server.StoredRules{}, err
	}
	return server.StoredRules{Version: row.Version, Hash: row.Hash, Source: []byte(row.Source),
		CreatedAt: time.UnixMicro(row.CreatedAt).UTC()}, nil
}

func (t *tx) InstallRecordRules(hash string, source []byte) (int64, error) {
	var v int64
	err := t.st.Get(t.ctx, &v, `INSERT INTO record_rules (version, hash, source, created_at)
SELECT coalesce(max(version), 0) + 1, ?, ?, ? FROM record_rules RETURNING version`, hash, string(source), t.now.UnixMicro())
	return v, err
}
