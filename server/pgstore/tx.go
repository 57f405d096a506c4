package pgstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// tx implements server.Tx on a pgx transaction. Every query is a constant
// of this file or logs.go, prepared once per connection by pgx's
// statement cache.
type tx struct {
	tx  pgx.Tx
	ctx context.Context
	// clock is the server's clock; now is the reading Now returns, zero
	// until Now reads it, and again after the transaction locks a
	// channel it had not locked (see Now).
	clock  func() time.Time
	now    time.Time
	locked map[string]bool // the channels whose rows this write locked
	// write is set in Update's transactions: Channel then locks the
	// channel's row (see Channel).
	write bool
}

// Now reads the clock at its first call, and again at the first call
// after the write locks another channel, and returns that reading in
// between. The server calls it after it has read, and so locked, a
// write's channel (see Channel), so a write that waited behind another of
// its channel carries a later time than that one, unless the clock went
// back; in a batch, each op's time is read after its channel's lock.
func (t *tx) Now() time.Time {
	if t.now.IsZero() {
		t.now = t.clock()
	}
	return t.now
}

// lockedChannel records that the write holds cid's row lock: the first
// time, Now reads the clock again at its next call.
func (t *tx) lockedChannel(cid string) {
	if t.locked[cid] {
		return
	}
	if t.locked == nil {
		t.locked = map[string]bool{}
	}
	t.locked[cid] = true
	t.now = time.Time{}
}

func (t *tx) getJSON(v any, query string, args ...any) error {
	var data string
	err := t.tx.QueryRow(t.ctx, query, args...).Scan(&data)
	if isNoRows(err) {
		return server.ErrNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(data), v)
}

func selectJSON[T any](t *tx, query string, args ...any) ([]T, error) {
	rows, err := t.tx.Query(t.ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []T
	var data string
	_, err = pgx.ForEachRow(rows, []any{&data}, func() error {
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

func (t *tx) selectStrings(query string, args ...any) ([]string, error) {
	rows, err := t.tx.Query(t.ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (t *tx) exec(query string, args ...any) error {
	_, err := t.tx.Exec(t.ctx, query, args...)
	return err
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // wire types always marshal
	}
	return string(b)
}

const (
	qUser    = `SELECT data FROM users WHERE id = $1`
	qPutUser = `INSERT INTO users (id, data) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET data = excluded.data`

	qChannel          = `SELECT data FROM channels WHERE cid = $1`
	qChannelForUpdate = `SELECT data FROM channels WHERE cid = $1 FOR UPDATE`
	qPutChannel       = `INSERT INTO channels (cid, epoch, last_activity, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (cid) DO UPDATE SET last_activity = excluded.last_activity, data = excluded.data`
	qCreateChannel = `INSERT INTO channels (cid, epoch, last_activity, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (cid) DO NOTHING RETURNING cid`
	qUserChannels = `SELECT c.data FROM channels c JOIN members m ON m.cid = c.cid
WHERE m.user_id = $1 ORDER BY c.last_activity DESC, c.cid LIMIT $2 OFFSET $3`
	qUserChannelIDs = `SELECT cid FROM members WHERE user_id = $1 ORDER BY cid`

	qMember       = `SELECT data FROM members WHERE cid = $1 AND user_id = $2`
	qMemberIDs    = `SELECT user_id FROM members WHERE cid = $1 ORDER BY user_id`
	qMembers      = `SELECT data FROM members WHERE cid = $1 ORDER BY user_id`
	qPutMember    = `INSERT INTO members (cid, user_id, data) VALUES ($1, $2, $3) ON CONFLICT (cid, user_id) DO UPDATE SET data = excluded.data`
	qDeleteMember = `DELETE FROM members WHERE cid = $1 AND user_id = $2`
	// A membership's span begins and ends at the channel's last seq in
	// the transaction: the event that adds or removes the member, which
	// the write took (NextPosition) before it stores the change.
	qOpenSpan = `INSERT INTO member_spans (cid, user_id, from_seq)
VALUES ($1, $2, coalesce((SELECT last_seq FROM channels WHERE cid = $1), 0))
ON CONFLICT (cid, user_id) WHERE to_seq IS NULL DO NOTHING`
	qCloseSpan = `UPDATE member_spans SET to_seq = coalesce((SELECT last_seq FROM channels WHERE cid = $1), 0)
WHERE cid = $1 AND user_id = $2 AND to_seq IS NULL`

	qMessage        = `SELECT data FROM messages WHERE id = $1`
	qMessageChannel = `SELECT cid FROM messages WHERE id = $1`
	qLockChannel    = `SELECT 1 FROM channels WHERE cid = $1 FOR UPDATE`
	qMessagesAfter  = `SELECT m.data FROM messages m, (SELECT seq, id FROM messages WHERE id = $2) p
WHERE m.cid = $1 AND (m.seq, m.id) > (p.seq, p.id) ORDER BY m.seq, m.id LIMIT $3`
	qMessagesBefore = `SELECT m.data FROM messages m, (SELECT seq, id FROM messages WHERE id = $2) p
WHERE m.cid = $1 AND (m.seq, m.id) < (p.seq, p.id) ORDER BY m.seq DESC, m.id DESC LIMIT $3`
	qMessagesLatest    = `SELECT data FROM messages WHERE cid = $1 ORDER BY seq DESC, id DESC LIMIT $2`
	qMessagesBeforeSeq = `SELECT data FROM messages WHERE cid = $1 AND seq < $2 ORDER BY seq DESC, id DESC LIMIT $3`
	qPutMessage        = `INSERT INTO messages (id, cid, seq, created_at, data) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET data = excluded.data`
	qDeleteMessageReactions = `DELETE FROM reactions WHERE message_id = $1`
	qDeleteMessage          = `DELETE FROM messages WHERE id = $1`
	qPutRemovedMessage      = `INSERT INTO removed_messages (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`
	qRemovedMessages        = `SELECT id FROM removed_messages WHERE id = ANY($1::text[])`

	qReaction    = `SELECT data FROM reactions WHERE message_id = $1 AND user_id = $2 AND type = $3`
	qReactions   = `SELECT data FROM reactions WHERE message_id = $1 ORDER BY user_id, type`
	qPutReaction = `INSERT INTO reactions (message_id, user_id, type, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (message_id, user_id, type) DO UPDATE SET data = excluded.data`
	qDeleteReaction = `DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND type = $3`

	qRead    = `SELECT data FROM reads WHERE cid = $1 AND user_id = $2`
	qReads   = `SELECT data FROM reads WHERE cid = $1 ORDER BY user_id`
	qPutRead = `INSERT INTO reads (cid, user_id, data) VALUES ($1, $2, $3) ON CONFLICT (cid, user_id) DO UPDATE SET data = excluded.data`

	qIdempotentResult    = `SELECT result FROM idempotency WHERE user_id = $1 AND key = $2`
	qPutIdempotentResult = `INSERT INTO idempotency (user_id, key, result, created_at) VALUES ($1, $2, $3, $4)`
)

func (t *tx) User(id string) (u protocol.User, err error) { return u, t.getJSON(&u, qUser, id) }

func (t *tx) PutUser(u protocol.User) error { return t.exec(qPutUser, u.ID, mustJSON(u)) }

// Channel reads cid's channel. In a write it also locks the channel's
// row, which is its log's counter: the server checks its rules (members,
// versions, a message id taken) after reading the channel, and on SQLite
// no other write runs meanwhile. Taking the lock here gives a channel's
// writes on Postgres the same order from their first look at the channel
// (or at one of its messages: see Message), and each statement after it
// (READ COMMITTED) sees every write of the channel that committed before.
func (t *tx) Channel(cid string) (c protocol.Channel, err error) {
	if t.write {
		err := t.getJSON(&c, qChannelForUpdate, cid)
		if err == nil {
			t.lockedChannel(cid)
		}
		return c, err
	}
	return c, t.getJSON(&c, qChannel, cid)
}

func activity(c protocol.Channel) int64 {
	if c.LastMessageAt != nil {
		return c.LastMessageAt.UnixMicro()
	}
	return c.CreatedAt.UnixMicro()
}

func (t *tx) PutChannel(c protocol.Channel) error {
	return t.exec(qPutChannel, c.CID, newEpoch(), activity(c), mustJSON(c))
}

// CreateChannel inserts c's row. ON CONFLICT DO NOTHING waits for a
// running transaction that inserted the same cid: when that commits, no
// row is inserted (nor returned), and the next statement (READ
// COMMITTED) sees the channel it made.
func (t *tx) CreateChannel(c protocol.Channel) error {
	var cid string
	err := t.tx.QueryRow(t.ctx, qCreateChannel, c.CID, newEpoch(), activity(c), mustJSON(c)).Scan(&cid)
	if isNoRows(err) {
		return server.ErrExists
	}
	return err
}

func (t *tx) UserChannels(userID string, limit, offset int) ([]protocol.Channel, error) {
	return selectJSON[protocol.Channel](t, qUserChannels, userID, limit, offset)
}

func (t *tx) UserChannelIDs(userID string) ([]string, error) {
	return t.selectStrings(qUserChannelIDs, userID)
}

func (t *tx) Member(cid, userID string) (m protocol.Member, err error) {
	return m, t.getJSON(&m, qMember, cid, userID)
}

func (t *tx) MemberIDs(cid string) ([]string, error) { return t.selectStrings(qMemberIDs, cid) }

func (t *tx) Members(cid string) ([]protocol.Member, error) {
	return selectJSON[protocol.Member](t, qMembers, cid)
}

// PutMember stores m and, for a new member, opens its membership span
// at the channel's last seq (see schema/0004_member_spans.sql).
func (t *tx) PutMember(m protocol.Member) error {
	if err := t.exec(qPutMember, m.CID, m.UserID, mustJSON(m)); err != nil {
		return err
	}
	return t.exec(qOpenSpan, m.CID, m.UserID)
}

// DeleteMember removes the member and ends its span at the channel's
// last seq: the removing event, which the member still receives.
func (t *tx) DeleteMember(cid, userID string) error {
	if err := t.exec(qDeleteMember, cid, userID); err != nil {
		return err
	}
	return t.exec(qCloseSpan, cid, userID)
}

func (t *tx) ChannelHidden(cid, userID string) (bool, error) {
	var hidden bool
	err := t.tx.QueryRow(t.ctx, `SELECT hidden FROM members WHERE cid = $1 AND user_id = $2`, cid, userID).Scan(&hidden)
	if isNoRows(err) {
		return false, server.ErrNotFound
	}
	return hidden, err
}

func (t *tx) HiddenChannelIDs(userID string) ([]string, error) {
	return t.selectStrings(`SELECT cid FROM members WHERE user_id = $1 AND hidden ORDER BY cid`, userID)
}

func (t *tx) SetChannelHidden(cid, userID string, hidden bool) error {
	var got string
	err := t.tx.QueryRow(t.ctx, `UPDATE members SET hidden = $3 WHERE cid = $1 AND user_id = $2 RETURNING cid`,
		cid, userID, hidden).Scan(&got)
	if isNoRows(err) {
		return server.ErrNotFound
	}
	return err
}

// Message reads a message. In a write it first locks the row of the
// message's channel (see Channel), then reads the message: a write that
// looks at a message before its channel (a reaction, an edit, a delete:
// the message names the channel) then sees it as the channel's last
// committed write left it, and no write of that channel on another node
// commits between this read and the transaction's end. Without the lock,
// another node's hard delete or edit committing meanwhile would be undone
// by this write's own PutMessage.
func (t *tx) Message(id string) (m protocol.Message, err error) {
	if t.write {
		var cid string
		err := t.tx.QueryRow(t.ctx, qMessageChannel, id).Scan(&cid)
		if isNoRows(err) {
			return m, server.ErrNotFound
		}
		if err != nil {
			return m, err
		}
		if err := t.exec(qLockChannel, cid); err != nil {
			return m, err
		}
		t.lockedChannel(cid)
	}
	return m, t.getJSON(&m, qMessage, id)
}

func (t *tx) Messages(cid string, p server.MessagesPage) ([]protocol.Message, error) {
	// A page starts after or before a message's place (seq, id).
	switch {
	case p.After != nil:
		return selectJSON[protocol.Message](t, qMessagesAfter, cid, p.After.ID, p.Limit)
	case p.Before != nil:
		return reversed(selectJSON[protocol.Message](t, qMessagesBefore, cid, p.Before.ID, p.Limit))
	case p.BeforeSeq > 0:
		return reversed(selectJSON[protocol.Message](t, qMessagesBeforeSeq, cid, p.BeforeSeq, p.Limit))
	default:
		return reversed(selectJSON[protocol.Message](t, qMessagesLatest, cid, p.Limit))
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
	return t.exec(qPutMessage, m.ID, m.CID, seq, m.CreatedAt.UnixMicro(), mustJSON(m))
}

func (t *tx) DeleteMessage(id string) error {
	if err := t.exec(qDeleteMessageReactions, id); err != nil {
		return err
	}
	if err := t.exec(qPutRemovedMessage, id); err != nil {
		return err
	}
	return t.exec(qDeleteMessage, id)
}

func (t *tx) RemovedMessages(ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return t.selectStrings(qRemovedMessages, ids)
}

func (t *tx) Reaction(messageID, userID, typ string) (r protocol.Reaction, err error) {
	return r, t.getJSON(&r, qReaction, messageID, userID, typ)
}

func (t *tx) Reactions(messageID string) ([]protocol.Reaction, error) {
	return selectJSON[protocol.Reaction](t, qReactions, messageID)
}

func (t *tx) PutReaction(r protocol.Reaction) error {
	return t.exec(qPutReaction, r.MessageID, r.UserID, r.Type, mustJSON(r))
}

func (t *tx) DeleteReaction(messageID, userID, typ string) error {
	return t.exec(qDeleteReaction, messageID, userID, typ)
}

func (t *tx) Read(cid, userID string) (r protocol.Read, err error) {
	return r, t.getJSON(&r, qRead, cid, userID)
}

func (t *tx) Reads(cid string) ([]protocol.Read, error) {
	return selectJSON[protocol.Read](t, qReads, cid)
}

func (t *tx) PutRead(r protocol.Read) error {
	return t.exec(qPutRead, r.CID, r.UserID, mustJSON(r))
}

func (t *tx) IdempotentResult(userID, key string) ([]byte, error) {
	var res string
	err := t.tx.QueryRow(t.ctx, qIdempotentResult, userID, key).Scan(&res)
	if isNoRows(err) {
		return nil, server.ErrNotFound
	}
	return []byte(res), err
}

func (t *tx) PutIdempotentResult(userID, key string, result []byte) error {
	return t.exec(qPutIdempotentResult, userID, key, string(result), t.Now().UnixMicro())
}

const (
	qRecord    = `SELECT data FROM records WHERE cid = $1 AND collection = $2 AND id = $3`
	qPutRecord = `INSERT INTO records (cid, collection, id, deleted, data) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (cid, collection, id) DO UPDATE SET deleted = excluded.deleted, data = excluded.data`
	qRecords = `SELECT data FROM records
WHERE cid = $1 AND (collection, id) > ($2, $3) AND NOT deleted ORDER BY collection, id LIMIT $4`
	qDeleteRecords      = `DELETE FROM records WHERE cid = $1`
	qRecordRulesVersion = `SELECT coalesce(max(version), 0) FROM record_rules`
	qRecordRules        = `SELECT version, hash, source, created_at FROM record_rules ORDER BY version DESC LIMIT 1`
	// Two installs at once: the second's insert fails on the primary
	// key, and Update runs it again (retryable).
	qInstallRecordRules = `INSERT INTO record_rules (version, hash, source, created_at)
SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM record_rules RETURNING version`
)

func (t *tx) Record(cid, collection, id string) (r protocol.Record, err error) {
	return r, t.getJSON(&r, qRecord, cid, collection, id)
}

func (t *tx) PutRecord(r protocol.Record) error {
	return t.exec(qPutRecord, r.CID, r.Collection, r.ID, r.Deleted, mustJSON(r))
}

func (t *tx) Records(cid string, after server.RecordKey, limit int) ([]json.RawMessage, error) {
	rows, err := t.tx.Query(t.ctx, qRecords, cid, after.Collection, after.ID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (json.RawMessage, error) {
		var data []byte
		err := row.Scan(&data)
		return data, err
	})
}

func (t *tx) DeleteRecords(cid string) error { return t.exec(qDeleteRecords, cid) }

func (t *tx) RecordRulesVersion() (int64, error) {
	var v int64
	err := t.tx.QueryRow(t.ctx, qRecordRulesVersion).Scan(&v)
	return v, err
}

func (t *tx) RecordRules() (server.StoredRules, error) {
	var r server.StoredRules
	var source string
	var at int64
	err := t.tx.QueryRow(t.ctx, qRecordRules).Scan(&r.Version, &r.Hash, &source, &at)
	if isNoRows(err) {
		return r, server.ErrNotFound
	}
	r.Source, r.CreatedAt = []byte(source), time.UnixMicro(at).UTC()
	return r, err
}

func (t *tx) InstallRecordRules(hash string, source []byte) (int64, error) {
	var v int64
	err := t.tx.QueryRow(t.ctx, qInstallRecordRules, hash, string(source), t.now.UnixMicro()).Scan(&v)
	return v, err
}
