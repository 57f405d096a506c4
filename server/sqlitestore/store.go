// Package sqlitestore is the server's embedded Store on SQLite
// (modernc.org/sqlite, no cgo).
//
// Writes are serialized: SQLite has one writer, and the store takes each
// write's timestamp under its own lock, after the previous write
// committed, so timestamps follow commit order. The write in flight is
// tracked so that Watermark never passes an event that has not committed.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the database/sql driver

	"github.com/outpostsync/outpost/internal/stmtcache"
	"github.com/outpostsync/outpost/migrations"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// Store is the SQLite Store. It is safe for concurrent use.
type Store struct {
	db    *sqlx.DB
	stmts *stmtcache.Cache
	now   func() time.Time

	wmu     sync.Mutex    // serializes writes
	readers chan struct{} // bounds concurrent reads (see Open)

	mu       sync.Mutex // guards the fields below
	last     time.Time  // timestamp of the last write
	inflight time.Time  // timestamp of the write in flight, zero if none
}

// schemaSet names the server's migrations in the database.
const schemaSet = "outpost_server"

// Open opens (creating if missing) the store at path. now is the server's
// clock; nil means time.Now. A path in a folder that does not exist, and
// a database of another schema (ErrNotServerDB), are refused with an
// error that says so.
func Open(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := checkFolder(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "synchronous(normal)")
	q.Set("_txlock", "immediate")
	db, err := sqlx.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	var mode string
	if err := db.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: journal mode %q: %v", path, mode, err)
	}
	if err := checkServerDB(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	sub, _ := fs.Sub(schemaFS, "schema")
	set, err := migrations.Load(schemaSet, sub)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := migrations.Apply(ctx, db.DB, set); err != nil {
		db.Close()
		return nil, err
	}
	// Each SQLite connection keeps its own page cache: a thousand clients
	// syncing at once would open a thousand connections and hundreds of
	// megabytes of cache for no gain on a few cores. Reads wait for one
	// of a few slots instead.
	s := &Store{db: db, stmts: stmtcache.New(db, 256), now: now,
		readers: make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))}
	var lastMicros sql.NullInt64
	if err := db.GetContext(ctx, &lastMicros, `SELECT max(created_at) FROM events`); err != nil {
		db.Close()
		return nil, err
	}
	if lastMicros.Valid {
		s.last = time.UnixMicro(lastMicros.Int64).UTC()
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.Close()
	return s.db.Close()
}

// stamp returns the next write timestamp: the clock, to the microsecond,
// but always after the last one.
func (s *Store) stampLocked() time.Time {
	t := s.now().UTC().Truncate(time.Microsecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Microsecond)
	}
	return t
}

// Update runs fn in one write transaction.
func (s *Store) Update(ctx context.Context, fn func(tx server.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	ts := s.stampLocked()
	s.inflight = ts
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight = time.Time{}
		s.mu.Unlock()
	}()

	sqlTx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	t := &tx{tx: sqlTx, st: s.stmts.Tx(sqlTx), ctx: ctx, now: ts}
	committed := false
	defer func() {
		if !committed {
			// fn failed or panicked: without this, a panic would leave
			// the transaction, and SQLite's write lock, held for good.
			_ = sqlTx.Rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	s.mu.Lock()
	s.last = t.now // after Tick, the last stamp of the write
	s.mu.Unlock()
	return nil
}

// View runs fn in a read-only transaction (a snapshot).
func (s *Store) View(ctx context.Context, fn func(tx server.Tx) error) error {
	select {
	case s.readers <- struct{}{}:
		defer func() { <-s.readers }()
	case <-ctx.Done():
		return ctx.Err()
	}
	sqlTx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	defer sqlTx.Rollback()
	s.mu.Lock()
	now := s.now().UTC().Truncate(time.Microsecond)
	s.mu.Unlock()
	return fn(&tx{tx: sqlTx, st: s.stmts.Tx(sqlTx), ctx: ctx, now: now})
}

// Watermark returns a time before every event not yet committed: one
// microsecond before the write in flight, or before now.
func (s *Store) Watermark(ctx context.Context) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.now().UTC().Truncate(time.Microsecond).Add(-time.Microsecond)
	if s.last.After(w) {
		// The clock went back; later writes stamp after s.last.
		w = s.last
	}
	if !s.inflight.IsZero() && !s.inflight.After(w) {
		w = s.inflight.Add(-time.Microsecond)
	}
	return w, nil
}

// EventsAfter returns events of cids after `after` and afterPos, in
// commit order.
func (t *tx) EventsAfter(cids []string, after time.Time, afterPos int64, limit int) ([]server.StoredEvent, error) {
	ctx := t.ctx
	if len(cids) == 0 {
		return nil, nil
	}
	// Start at the first log position after the checkpoint (found through
	// the time index) and walk the log in order, filtering channels as it
	// goes: a page then reads only what comes after it. Left to itself,
	// SQLite would use the (cid, seq) index and sort each channel's whole
	// history for every page, which makes a catch-up quadratic.
	var first sql.NullInt64
	if err := t.st.Get(ctx, &first, `SELECT min(pos) FROM events WHERE created_at > ?`, after.UnixMicro()); err != nil {
		return nil, fmt.Errorf("sqlitestore: events: %w", err)
	}
	if !first.Valid {
		return nil, nil
	}
	from := max(afterPos, first.Int64-1)
	query, args, err := sqlx.In(`SELECT pos, created_at, payload FROM events WHERE pos > ? AND +cid IN (?) AND +created_at > ? ORDER BY pos LIMIT ?`,
		from, cids, after.UnixMicro(), limit)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Pos       int64  `db:"pos"`
		CreatedAt int64  `db:"created_at"`
		Payload   string `db:"payload"`
	}
	if err := t.tx.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("sqlitestore: events: %w", err)
	}
	out := make([]server.StoredEvent, len(rows))
	for i, r := range rows {
		out[i] = server.StoredEvent{Pos: r.Pos, CreatedAt: time.UnixMicro(r.CreatedAt).UTC(), Payload: json.RawMessage(r.Payload)}
	}
	return out, nil
}

// PrunedAt reports the channels that lost events to retention.
func (t *tx) PrunedAt(cids []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(cids) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT cid, pruned_at FROM channels WHERE cid IN (?) AND pruned_at > 0`, cids)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		CID      string `db:"cid"`
		PrunedAt int64  `db:"pruned_at"`
	}
	if err := t.tx.SelectContext(t.ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.CID] = time.UnixMicro(r.PrunedAt).UTC()
	}
	return out, nil
}

// Prune deletes events older than before, and beyond maxPerChannel per
// channel, and records per channel the newest pruned time.
func (s *Store) Prune(ctx context.Context, before time.Time, maxPerChannel int) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var n int
	err := func() error {
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		cond := `created_at < ?1`
		if maxPerChannel > 0 {
			cond += ` OR seq <= (SELECT last_seq FROM channels c WHERE c.cid = events.cid) - ?2`
		}
		if _, err := tx.ExecContext(ctx, `UPDATE channels SET pruned_at = max(pruned_at,
	coalesce((SELECT max(created_at) FROM events WHERE events.cid = channels.cid AND (`+cond+`)), 0))`,
			before.UnixMicro(), maxPerChannel); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE `+cond, before.UnixMicro(), maxPerChannel)
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		n = int(k)
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE created_at < ?`, before.UnixMicro()); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: prune: %w", err)
	}
	return n, nil
}

// tx implements server.Tx on a SQL transaction.
type tx struct {
	tx  *sqlx.Tx
	st  *stmtcache.Tx // the fixed queries, prepared once per connection
	ctx context.Context
	now time.Time
}

func (t *tx) Now() time.Time { return t.now }

func (t *tx) Tick() { t.now = t.now.Add(time.Microsecond) }

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
	return t.exec(`INSERT INTO channels (cid, last_activity, data) VALUES (?, ?, ?)
ON CONFLICT (cid) DO UPDATE SET last_activity = excluded.last_activity, data = excluded.data`, c.CID, activity(c), mustJSON(c))
}

func (t *tx) UserChannels(userID string, limit, offset int) ([]protocol.Channel, error) {
	return selectJSON[protocol.Channel](t, `SELECT c.data FROM channels c JOIN members m ON m.cid = c.cid
WHERE m.user_id = ? ORDER BY c.last_activity DESC, c.cid LIMIT ? OFFSET ?`, userID, limit, offset)
}

func (t *tx) Member(cid, userID string) (m protocol.Member, err error) {
	return m, t.getJSON(&m, `SELECT data FROM members WHERE cid = ? AND user_id = ?`, cid, userID)
}

func (t *tx) Memberships(userID string, cids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(cids) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT cid FROM members WHERE user_id = ? AND cid IN (?)`, userID, cids)
	if err != nil {
		return nil, err
	}
	var in []string
	if err := t.tx.SelectContext(t.ctx, &in, query, args...); err != nil {
		return nil, err
	}
	for _, c := range in {
		out[c] = true
	}
	return out, nil
}

func (t *tx) MemberIDs(cid string) ([]string, error) {
	var ids []string
	err := t.st.Select(t.ctx, &ids, `SELECT user_id FROM members WHERE cid = ? ORDER BY user_id`, cid)
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

func (t *tx) Message(id string) (m protocol.Message, err error) {
	return m, t.getJSON(&m, `SELECT data FROM messages WHERE id = ?`, id)
}

func (t *tx) Messages(cid string, p server.MessagesPage) ([]protocol.Message, error) {
	switch {
	case p.After != nil:
		return selectJSON[protocol.Message](t, `SELECT data FROM messages WHERE cid = ?1
AND (created_at > ?2 OR (created_at = ?2 AND id > ?3)) ORDER BY created_at, id LIMIT ?4`,
			cid, p.After.CreatedAt.UnixMicro(), p.After.ID, p.Limit)
	default:
		at, id := int64(1<<62), ""
		if p.Before != nil {
			at, id = p.Before.CreatedAt.UnixMicro(), p.Before.ID
		}
		ms, err := selectJSON[protocol.Message](t, `SELECT data FROM messages WHERE cid = ?1
AND (created_at < ?2 OR (created_at = ?2 AND id < ?3)) ORDER BY created_at DESC, id DESC LIMIT ?4`, cid, at, id, p.Limit)
		for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
			ms[i], ms[j] = ms[j], ms[i]
		}
		return ms, err
	}
}

func (t *tx) PutMessage(m protocol.Message) error {
	return t.exec(`INSERT INTO messages (id, cid, created_at, data) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET data = excluded.data`, m.ID, m.CID, m.CreatedAt.UnixMicro(), mustJSON(m))
}

func (t *tx) DeleteMessage(id string) error {
	if err := t.exec(`DELETE FROM reactions WHERE message_id = ?`, id); err != nil {
		return err
	}
	return t.exec(`DELETE FROM messages WHERE id = ?`, id)
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

func (t *tx) NextSeq(cid string) (int64, error) {
	var seq int64
	err := t.st.Get(t.ctx, &seq, `UPDATE channels SET last_seq = last_seq + 1 WHERE cid = ? RETURNING last_seq`, cid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, server.ErrNotFound
	}
	return seq, err
}

func (t *tx) AppendEvent(ev protocol.Event) error {
	return t.exec(`INSERT INTO events (id, cid, seq, created_at, payload) VALUES (?, ?, ?, ?, ?)`,
		ev.ID, ev.CID, ev.Seq, ev.CreatedAt.UnixMicro(), mustJSON(ev))
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

var _ server.Store = (*Store)(nil)
