package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// logTable is one kind of log: a table of counters, one row per log, and
// a table of events. Channel logs and membership feeds share the code;
// each query of a log is one field here, built once.
type logTable struct {
	counters, key, events string
	// nextNewEpoch: next takes a fresh epoch as $2, for a log it begins.
	nextNewEpoch bool

	next      string // takes the next seq for the event $2 (or $3); returns epoch, last_seq
	state     string // one log's LogState
	list      string // events after a seq
	ranges    string // events within (key, from, to) ranges, by range and seq
	idAt      string // the id at a seq
	appendEv  string // stores an event
	cutsByAge string // per log, the highest seq created before $1
	cutsByLen string // per log, the seq that keeps the newest $1
	cutEvents string // deletes a log's events up to a seq
	setPruned string // records a cut, if it moves the log's PrunedSeq on
}

func newLogTable(counters, key, events, next string, nextNewEpoch bool) *logTable {
	l := &logTable{counters: counters, key: key, events: events, next: next, nextNewEpoch: nextNewEpoch}
	f := func(q string) string { return fmt.Sprintf(q, counters, key, events) }
	l.state = f(`SELECT %[2]s, epoch, last_seq, last_event_id, pruned_seq, pruned_event_id FROM %[1]s WHERE %[2]s = $1`)
	l.list = f(`SELECT seq, id, created_at, payload FROM %[3]s WHERE %[2]s = $1 AND seq > $2 ORDER BY seq LIMIT $3`)
	l.ranges = f(`SELECT r.i, e.seq, e.id, e.created_at, e.payload
FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS r(k, lo, hi, i)
JOIN %[3]s e ON e.%[2]s = r.k AND e.seq BETWEEN r.lo AND r.hi
ORDER BY r.i, e.seq`)
	l.idAt = f(`SELECT id FROM %[3]s WHERE %[2]s = $1 AND seq = $2`)
	l.appendEv = f(`INSERT INTO %[3]s (id, %[2]s, seq, created_at, payload) VALUES ($1, $2, $3, $4, $5)`)
	l.cutsByAge = f(`SELECT %[2]s, max(seq) FROM %[3]s WHERE created_at < $1 GROUP BY %[2]s`)
	l.cutsByLen = f(`SELECT %[2]s, last_seq - $1 FROM %[1]s WHERE last_seq - $1 > pruned_seq`)
	l.cutEvents = f(`DELETE FROM %[3]s WHERE %[2]s = $1 AND seq <= $2`)
	l.setPruned = f(`UPDATE %[1]s SET pruned_seq = $2, pruned_event_id = $3 WHERE %[2]s = $1 AND pruned_seq < $2`)
	return l
}

var (
	// A channel's counter row is its channels row, made with the
	// channel (PutChannel).
	channelLog = newLogTable("channels", "cid", "events",
		`UPDATE channels SET last_seq = last_seq + 1, last_event_id = $2 WHERE cid = $1 RETURNING epoch, last_seq`, false)
	// A feed begins at its first event.
	feedLog = newLogTable("feeds", "user_id", "feed_events",
		`INSERT INTO feeds (user_id, epoch, last_seq, last_event_id) VALUES ($1, $2, 1, $3)
ON CONFLICT (user_id) DO UPDATE SET last_seq = feeds.last_seq + 1, last_event_id = $3 RETURNING epoch, last_seq`, true)
)

func (l *logTable) nextPosition(t *tx, key, eventID string) (protocol.Position, error) {
	args := []any{key}
	if l.nextNewEpoch {
		args = append(args, newEpoch())
	}
	args = append(args, eventID)
	var pos protocol.Position
	err := t.tx.QueryRow(t.ctx, l.next, args...).Scan(&pos.Epoch, &pos.Seq)
	if isNoRows(err) {
		return protocol.Position{}, server.ErrNotFound
	}
	if err != nil {
		return protocol.Position{}, fmt.Errorf("pgstore: next position of %s: %w", key, err)
	}
	return pos, nil
}

func (l *logTable) appendEvent(t *tx, key string, ev protocol.Event) error {
	return t.exec(l.appendEv, ev.ID, key, ev.Seq, ev.CreatedAt.UnixMicro(), mustJSON(ev))
}

func scanLogState(row pgx.CollectableRow) (server.LogState, error) {
	var s server.LogState
	err := row.Scan(&s.Key, &s.Epoch, &s.LastSeq, &s.LastEventID, &s.PrunedSeq, &s.PrunedEventID)
	return s, err
}

func (l *logTable) logState(t *tx, key string) (server.LogState, error) {
	rows, err := t.tx.Query(t.ctx, l.state, key)
	if err != nil {
		return server.LogState{}, err
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanLogState)
	if isNoRows(err) {
		return server.LogState{}, server.ErrNotFound
	}
	return s, err
}

func scanStoredEvent(row pgx.CollectableRow) (server.StoredEvent, error) {
	var e server.StoredEvent
	var created int64
	var payload string
	err := row.Scan(&e.Seq, &e.ID, &created, &payload)
	e.CreatedAt, e.Payload = time.UnixMicro(created).UTC(), json.RawMessage(payload)
	return e, err
}

func (l *logTable) eventsAfter(t *tx, key string, afterSeq int64, limit int) ([]server.StoredEvent, error) {
	return t.storedEvents("events of "+key, l.list, key, afterSeq, limit)
}

// storedEvents runs query, whose rows are seq, id, created_at and
// payload; what names the events in an error.
func (t *tx) storedEvents(what, query string, args ...any) ([]server.StoredEvent, error) {
	rows, err := t.tx.Query(t.ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", what, err)
	}
	evs, err := pgx.CollectRows(rows, scanStoredEvent)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", what, err)
	}
	return evs, nil
}

// eventRanges reads the events of each range in one query.
func (l *logTable) eventRanges(t *tx, ranges []server.EventRange) ([][]server.StoredEvent, error) {
	out := make([][]server.StoredEvent, len(ranges))
	if len(ranges) == 0 {
		return out, nil
	}
	keys := make([]string, len(ranges))
	from := make([]int64, len(ranges))
	to := make([]int64, len(ranges))
	for i, r := range ranges {
		keys[i], from[i], to[i] = r.Key, r.From, r.To
	}
	rows, err := t.tx.Query(t.ctx, l.ranges, keys, from, to)
	if err != nil {
		return nil, fmt.Errorf("pgstore: event ranges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var e server.StoredEvent
		var created int64
		var payload string
		if err := rows.Scan(&i, &e.Seq, &e.ID, &created, &payload); err != nil {
			return nil, fmt.Errorf("pgstore: event ranges: %w", err)
		}
		e.CreatedAt, e.Payload = time.UnixMicro(created).UTC(), json.RawMessage(payload)
		out[i-1] = append(out[i-1], e) // ORDINALITY counts from 1
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: event ranges: %w", err)
	}
	return out, nil
}

// prune cuts each log's head: the events older than before, and those
// beyond the newest maxLen when maxLen > 0. A log always loses a prefix,
// up to its highest seq cut, so that PrunedSeq says what is gone.
func (l *logTable) prune(ctx context.Context, ptx pgx.Tx, before int64, maxLen int) (int, error) {
	cuts := map[string]int64{}
	collect := func(query string, arg any) error {
		rows, err := ptx.Query(ctx, query, arg)
		if err != nil {
			return err
		}
		var key string
		var cut int64
		_, err = pgx.ForEachRow(rows, []any{&key, &cut}, func() error {
			cuts[key] = max(cuts[key], cut)
			return nil
		})
		return err
	}
	if err := collect(l.cutsByAge, before); err != nil {
		return 0, err
	}
	if maxLen > 0 {
		if err := collect(l.cutsByLen, int64(maxLen)); err != nil {
			return 0, err
		}
	}
	n := 0
	for key, cut := range cuts {
		var id string
		if err := ptx.QueryRow(ctx, l.idAt, key, cut).Scan(&id); err != nil && !isNoRows(err) {
			return n, err
		}
		// Taking the counter row first orders this cut with the log's
		// writers, and skips a log already cut this far.
		tag, err := ptx.Exec(ctx, l.setPruned, key, cut, id)
		if err != nil {
			return n, err
		}
		if tag.RowsAffected() == 0 {
			continue
		}
		tag, err = ptx.Exec(ctx, l.cutEvents, key, cut)
		if err != nil {
			return n, err
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

func (t *tx) NextPosition(cid, eventID string) (protocol.Position, error) {
	return channelLog.nextPosition(t, cid, eventID)
}

// AppendEvent stores ev with the id of the message whose content it
// carries, if any, for ContentEvents.
func (t *tx) AppendEvent(ev protocol.Event) error {
	var content *string
	if id := ev.ContentOf(); id != "" {
		content = &id
	}
	return t.exec(qAppendChannelEvent, ev.ID, ev.CID, ev.Seq, ev.CreatedAt.UnixMicro(), mustJSON(ev), content)
}

const (
	qAppendChannelEvent = `INSERT INTO events (id, cid, seq, created_at, payload, message_id) VALUES ($1, $2, $3, $4, $5, $6)`
	qContentEvents      = `SELECT seq, id, created_at, payload FROM events WHERE cid = $1 AND seq > $2 AND seq < $3
AND message_id IS NOT NULL ORDER BY seq LIMIT $4`
	qMessageContentEvents = `SELECT seq, id, created_at, payload FROM events WHERE message_id = $1 AND cid = $2 AND seq > $3 AND seq < $4
ORDER BY seq LIMIT $5`
	qRedactEvent = `UPDATE events SET payload = $3, message_id = NULL WHERE cid = $1 AND seq = $2`
)

func (t *tx) ContentEvents(cid, messageID string, afterSeq, beforeSeq int64, limit int) ([]server.StoredEvent, error) {
	q, args := qContentEvents, []any{cid, afterSeq, beforeSeq, limit}
	if messageID != "" {
		q, args = qMessageContentEvents, []any{messageID, cid, afterSeq, beforeSeq, limit}
	}
	return t.storedEvents("content events of "+cid, q, args...)
}

func (t *tx) RedactEvent(cid string, seq int64, payload json.RawMessage) error {
	return t.exec(qRedactEvent, cid, seq, string(payload))
}

func (t *tx) ChannelLog(cid string) (server.LogState, error) { return channelLog.logState(t, cid) }

const qChannelLogs = `SELECT c.cid, c.epoch, c.last_seq, c.last_event_id, c.pruned_seq, c.pruned_event_id
FROM members m JOIN channels c ON c.cid = m.cid WHERE m.user_id = $1 ORDER BY c.cid`

func (t *tx) ChannelLogs(userID string) ([]server.LogState, error) {
	rows, err := t.tx.Query(t.ctx, qChannelLogs, userID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: channel logs: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanLogState)
	if err != nil {
		return nil, fmt.Errorf("pgstore: channel logs: %w", err)
	}
	return out, nil
}

func (t *tx) ChannelEvents(cid string, afterSeq int64, limit int) ([]server.StoredEvent, error) {
	return channelLog.eventsAfter(t, cid, afterSeq, limit)
}

func (t *tx) ChannelEventRanges(ranges []server.EventRange) ([][]server.StoredEvent, error) {
	return channelLog.eventRanges(t, ranges)
}

func (t *tx) NextFeedPosition(userID, eventID string) (protocol.Position, error) {
	return feedLog.nextPosition(t, userID, eventID)
}

func (t *tx) AppendFeedEvent(userID string, ev protocol.Event) error {
	return feedLog.appendEvent(t, userID, ev)
}

func (t *tx) FeedLog(userID string) (server.LogState, error) {
	st, err := feedLog.logState(t, userID)
	if err == server.ErrNotFound {
		return server.LogState{Key: userID}, nil
	}
	return st, err
}

func (t *tx) FeedEvents(userID string, afterSeq int64, limit int) ([]server.StoredEvent, error) {
	return feedLog.eventsAfter(t, userID, afterSeq, limit)
}
