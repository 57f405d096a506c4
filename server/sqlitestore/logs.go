package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// logTable is one kind of log: a table of counters, one row per log, and
// a table of events. Channel logs and membership feeds share the code.
type logTable struct {
	counters, key, events string
	// nextNewEpoch: next takes a fresh epoch as ?3, for a log it begins.
	nextNewEpoch bool

	next     string // takes the next seq for event ?2; returns epoch, last_seq
	state    string // one log's LogState
	list     string // events after a seq
	idAt     string // the id at a seq
	appendEv string // stores an event
}

func newLogTable(counters, key, events, next string, nextNewEpoch bool) *logTable {
	l := &logTable{counters: counters, key: key, events: events, next: next, nextNewEpoch: nextNewEpoch}
	l.state = fmt.Sprintf(`SELECT %[2]s AS key, epoch, last_seq, last_event_id, pruned_seq, pruned_event_id FROM %[1]s WHERE %[2]s = ?`, counters, key)
	l.list = fmt.Sprintf(`SELECT seq, id, created_at, payload FROM %[1]s WHERE %[2]s = ? AND seq > ? ORDER BY seq LIMIT ?`, events, key)
	l.idAt = fmt.Sprintf(`SELECT id FROM %[1]s WHERE %[2]s = ? AND seq = ?`, events, key)
	l.appendEv = fmt.Sprintf(`INSERT INTO %[1]s (id, %[2]s, seq, created_at, payload) VALUES (?, ?, ?, ?, ?)`, events, key)
	return l
}

// A log's counter row holds its head, (last_seq, last_event_id): the
// statement that takes a seq also names the event that will stand there,
// so a sync checks a position at the head without reading the log.
var (
	// A channel's counter row is its channels row, made with the
	// channel (PutChannel).
	channelLog = newLogTable("channels", "cid", "events",
		`UPDATE channels SET last_seq = last_seq + 1, last_event_id = ?2 WHERE cid = ?1 RETURNING epoch, last_seq`, false)
	// A feed begins at its first event.
	feedLog = newLogTable("feeds", "user_id", "feed_events",
		`INSERT INTO feeds (user_id, epoch, last_seq, last_event_id) VALUES (?1, ?3, 1, ?2)
ON CONFLICT (user_id) DO UPDATE SET last_seq = last_seq + 1, last_event_id = excluded.last_event_id RETURNING epoch, last_seq`, true)
)

type logStateRow struct {
	Key           string `db:"key"`
	Epoch         string `db:"epoch"`
	LastSeq       int64  `db:"last_seq"`
	LastEventID   string `db:"last_event_id"`
	PrunedSeq     int64  `db:"pruned_seq"`
	PrunedEventID string `db:"pruned_event_id"`
}

func (r logStateRow) state() server.LogState {
	return server.LogState{Key: r.Key, Epoch: r.Epoch, LastSeq: r.LastSeq, LastEventID: r.LastEventID, PrunedSeq: r.PrunedSeq, PrunedEventID: r.PrunedEventID}
}

func (l *logTable) nextPosition(t *tx, key, eventID string) (protocol.Position, error) {
	var row struct {
		Epoch   string `db:"epoch"`
		LastSeq int64  `db:"last_seq"`
	}
	args := []any{key, eventID}
	if l.nextNewEpoch {
		args = append(args, newEpoch())
	}
	err := t.st.Get(t.ctx, &row, l.next, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return protocol.Position{}, server.ErrNotFound
	}
	if err != nil {
		return protocol.Position{}, fmt.Errorf("sqlitestore: next position of %s: %w", key, err)
	}
	return protocol.Position{Epoch: row.Epoch, Seq: row.LastSeq}, nil
}

func (l *logTable) appendEvent(t *tx, key string, ev protocol.Event) error {
	return t.exec(l.appendEv, ev.ID, key, ev.Seq, ev.CreatedAt.UnixMicro(), mustJSON(ev))
}

func (l *logTable) logState(t *tx, key string) (server.LogState, error) {
	var row logStateRow
	err := t.st.Get(t.ctx, &row, l.state, key)
	if errors.Is(err, sql.ErrNoRows) {
		return server.LogState{}, server.ErrNotFound
	}
	return row.state(), err
}

func (l *logTable) eventsAfter(t *tx, key string, afterSeq int64, limit int) ([]server.StoredEvent, error) {
	var out []server.StoredEvent
	err := t.query(func(rows *sql.Rows) error {
		e, err := scanEvent(rows)
		out = append(out, e)
		return err
	}, l.list, key, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: events of %s: %w", key, err)
	}
	return out, nil
}

// scanEvent scans a row of seq, id, created_at and payload, after the
// columns scanned into lead.
func scanEvent(rows *sql.Rows, lead ...any) (server.StoredEvent, error) {
	var e server.StoredEvent
	var created int64
	var payload []byte
	if err := rows.Scan(append(lead, &e.Seq, &e.ID, &created, &payload)...); err != nil {
		return e, err
	}
	e.CreatedAt = time.UnixMicro(created).UTC()
	e.Payload = payload
	return e, nil
}

// channelEventRanges reads every range in one statement: the ranges go
// in as one JSON array of [cid, from, to], each met by a range scan of
// the events' primary key. Rows come in no promised order; r.key is the
// range's index.
const channelEventRanges = `SELECT r.key, e.seq, e.id, e.created_at, e.payload
FROM json_each(?1) r JOIN events e ON e.cid = r.value ->> 0 AND e.seq BETWEEN r.value ->> 1 AND r.value ->> 2`

func (t *tx) ChannelEventRanges(ranges []server.EventRange) ([][]server.StoredEvent, error) {
	out := make([][]server.StoredEvent, len(ranges))
	if len(ranges) == 0 {
		return out, nil
	}
	arg := make([]byte, 0, 32*len(ranges))
	arg = append(arg, '[')
	for i, r := range ranges {
		if i > 0 {
			arg = append(arg, ',')
		}
		key, _ := json.Marshal(r.Key)
		arg = append(append(arg, '['), key...)
		arg = strconv.AppendInt(append(arg, ','), r.From, 10)
		arg = strconv.AppendInt(append(arg, ','), r.To, 10)
		arg = append(arg, ']')
		out[i] = make([]server.StoredEvent, 0, max(0, min(r.To-r.From+1, 1024)))
	}
	arg = append(arg, ']')
	err := t.query(func(rows *sql.Rows) error {
		var i int
		e, err := scanEvent(rows, &i)
		if err != nil {
			return err
		}
		if i < 0 || i >= len(out) {
			return fmt.Errorf("row of range %d, of %d", i, len(out))
		}
		out[i] = append(out[i], e)
		return nil
	}, channelEventRanges, string(arg))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: event ranges: %w", err)
	}
	for _, evs := range out {
		if !slices.IsSortedFunc(evs, byEventSeq) {
			slices.SortFunc(evs, byEventSeq)
		}
	}
	return out, nil
}

func byEventSeq(a, b server.StoredEvent) int { return cmp.Compare(a.Seq, b.Seq) }

// prune cuts each log's head: the events older than before, and those
// beyond the newest maxLen when maxLen > 0. A log always loses a prefix,
// up to its highest seq cut, so that PrunedSeq says what is gone.
func (l *logTable) prune(ctx context.Context, tx *sqlx.Tx, before int64, maxLen int) (int, error) {
	cuts := map[string]int64{}
	var rows []struct {
		Key string `db:"key"`
		Cut int64  `db:"cut"`
	}
	if err := tx.SelectContext(ctx, &rows, fmt.Sprintf(
		`SELECT %[2]s AS key, max(seq) AS cut FROM %[1]s WHERE created_at < ? GROUP BY %[2]s`, l.events, l.key), before); err != nil {
		return 0, err
	}
	for _, r := range rows {
		cuts[r.Key] = r.Cut
	}
	if maxLen > 0 {
		rows = rows[:0]
		if err := tx.SelectContext(ctx, &rows, fmt.Sprintf(
			`SELECT %[2]s AS key, last_seq - ?1 AS cut FROM %[1]s WHERE last_seq - ?1 > pruned_seq`, l.counters, l.key), maxLen); err != nil {
			return 0, err
		}
		for _, r := range rows {
			cuts[r.Key] = max(cuts[r.Key], r.Cut)
		}
	}
	n := 0
	for key, cut := range cuts {
		var prunedSeq int64
		if err := tx.GetContext(ctx, &prunedSeq, fmt.Sprintf(`SELECT pruned_seq FROM %s WHERE %s = ?`, l.counters, l.key), key); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			return n, err
		}
		if cut <= prunedSeq {
			continue
		}
		var id string
		err := tx.GetContext(ctx, &id, l.idAt, key, cut)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return n, err
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE %s = ? AND seq <= ?`, l.events, l.key), key, cut)
		if err != nil {
			return n, err
		}
		k, _ := res.RowsAffected()
		n += int(k)
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET pruned_seq = ?, pruned_event_id = ? WHERE %s = ?`, l.counters, l.key),
			cut, id, key); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (t *tx) NextPosition(cid, eventID string) (protocol.Position, error) {
	return channelLog.nextPosition(t, cid, eventID)
}

// AppendEvent stores ev with the id of the message whose content it
// carries, if any, for ContentEvents.
func (t *tx) AppendEvent(ev protocol.Event) error {
	var content sql.NullString
	if id := ev.ContentOf(); id != "" {
		content = sql.NullString{String: id, Valid: true}
	}
	return t.exec(`INSERT INTO events (id, cid, seq, created_at, payload, message_id) VALUES (?, ?, ?, ?, ?, ?)`,
		ev.ID, ev.CID, ev.Seq, ev.CreatedAt.UnixMicro(), mustJSON(ev), content)
}

func (t *tx) ContentEvents(cid, messageID string, afterSeq, beforeSeq int64, limit int) ([]server.StoredEvent, error) {
	q, args := `SELECT seq, id, created_at, payload FROM events WHERE cid = ?1 AND seq > ?2 AND seq < ?3
AND message_id IS NOT NULL ORDER BY seq LIMIT ?4`, []any{cid, afterSeq, beforeSeq, limit}
	if messageID != "" {
		q, args = `SELECT seq, id, created_at, payload FROM events WHERE message_id = ?1 AND cid = ?2 AND seq > ?3 AND seq < ?4
ORDER BY seq LIMIT ?5`, []any{messageID, cid, afterSeq, beforeSeq, limit}
	}
	var out []server.StoredEvent
	err := t.query(func(rows *sql.Rows) error {
		e, err := scanEvent(rows)
		out = append(out, e)
		return err
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: content events of %s: %w", cid, err)
	}
	return out, nil
}

func (t *tx) RedactEvent(cid string, seq int64, payload json.RawMessage) error {
	return t.exec(`UPDATE events SET payload = ?, message_id = NULL WHERE cid = ? AND seq = ?`, string(payload), cid, seq)
}

func (t *tx) ChannelLog(cid string) (server.LogState, error) { return channelLog.logState(t, cid) }

// ChannelLogs scans its rows by hand: a sync reads every membership of
// the user on each page, and sqlx's reflection cost more than the query.
func (t *tx) ChannelLogs(userID string) ([]server.LogState, error) {
	var out []server.LogState
	err := t.query(func(rows *sql.Rows) error {
		var l server.LogState
		err := rows.Scan(&l.Key, &l.Epoch, &l.LastSeq, &l.LastEventID, &l.PrunedSeq, &l.PrunedEventID)
		out = append(out, l)
		return err
	}, `SELECT m.cid, c.epoch, c.last_seq, c.last_event_id, c.pruned_seq, c.pruned_event_id
FROM members m JOIN channels c ON c.cid = m.cid WHERE m.user_id = ? ORDER BY m.cid`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: channel logs: %w", err)
	}
	return out, nil
}

func (t *tx) ChannelEvents(cid string, afterSeq int64, limit int) ([]server.StoredEvent, error) {
	return channelLog.eventsAfter(t, cid, afterSeq, limit)
}

func (t *tx) NextFeedPosition(userID, eventID string) (protocol.Position, error) {
	return feedLog.nextPosition(t, userID, eventID)
}

func (t *tx) AppendFeedEvent(userID string, ev protocol.Event) error {
	return feedLog.appendEvent(t, userID, ev)
}

func (t *tx) FeedLog(userID string) (server.LogState, error) {
	st, err := feedLog.logState(t, userID)
	if errors.Is(err, server.ErrNotFound) {
		return server.LogState{Key: userID}, nil
	}
	return st, err
}

func (t *tx) FeedEvents(userID string, afterSeq int64, limit int) ([]server.StoredEvent, error) {
	return feedLog.eventsAfter(t, userID, afterSeq, limit)
}
