package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/changelog"
	"github.com/outpostsync/outpost/internal/stmtcache"
)

// Query is one SQL statement with its arguments, as EventQueries returns
// them. Run a list of them with ExecQueries.
type Query struct {
	SQL  string
	Args []any

	// EventID names the event the query belongs to; ExecQueries uses
	// it to skip a failing event as a whole and report it. Empty for
	// queries that belong to no event (a checkpoint, say).
	EventID string

	tmpl  *rowTemplate  // set when the query can merge with its neighbours
	touch *channelTouch // channel bookkeeping the event needs
}

// rowTemplate describes a statement of the form prefix + tuple + suffix
// where tuple is one "(?, ...)" row of a VALUES list. Consecutive queries of
// one template merge into one statement with many rows, which is what makes
// applying a page of events cost little more than the raw inserts.
type rowTemplate struct {
	prefix, tuple, suffix string
	single                string // the statement of one row
	nargs                 int
	sqls                  [maxMergedRows + 1]atomic.Pointer[string] // sqlFor's texts, built once
}

func newTemplate(prefix string, nargs int, suffix string) *rowTemplate {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", nargs), ",") + ")"
	return &rowTemplate{prefix: prefix, tuple: tuple, suffix: suffix, single: prefix + tuple + suffix, nargs: nargs}
}

func (t *rowTemplate) query(eventID string, args ...any) Query {
	if len(args) != t.nargs {
		panic(fmt.Sprintf("offlinedb: template wants %d args, got %d", t.nargs, len(args)))
	}
	return Query{SQL: t.single, Args: args, EventID: eventID, tmpl: t}
}

func (t *rowTemplate) sqlFor(rows int) string {
	if rows <= maxMergedRows {
		if p := t.sqls[rows].Load(); p != nil {
			return *p
		}
	}
	q := t.buildSQL(rows)
	if rows <= maxMergedRows {
		t.sqls[rows].Store(&q)
	}
	return q
}

func (t *rowTemplate) buildSQL(rows int) string {
	var b strings.Builder
	b.Grow(len(t.prefix) + len(t.suffix) + rows*(len(t.tuple)+1))
	b.WriteString(t.prefix)
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.tuple)
	}
	b.WriteString(t.suffix)
	return b.String()
}

// maxMergedRows caps the rows of one merged statement; it keeps the
// statement well under SQLite's variable limit and its prepared form small.
// It is a power of two (see mergedRows).
const maxMergedRows = 64

// mergedRows is the rows of the next merged statement of a run of n rows:
// the largest power of two up to n and maxMergedRows. Runs of any length
// then take one of seven statements of each template, which stay prepared
// on every connection, where a statement per run length would be prepared
// afresh for most pages' last run.
func mergedRows(n int) int {
	r := 1
	for r*2 <= min(n, maxMergedRows) {
		r *= 2
	}
	return r
}

// channelTouch is the channel bookkeeping an event needs: a stub channel row
// so the channel is synced later, its highest applied sequence number, and
// its latest activity. ExecQueries does it once per channel per batch.
type channelTouch struct {
	cid, typ, id string
	seq          int64
	version      int64
	activity     int64 // Unix nanoseconds of a new message; 0 for none
}

// ExecQueries runs queries in one transaction. Consecutive queries of
// the same shape run as one multi-row statement, and every statement is
// prepared once per transaction.
//
// When a query fails, the transaction is rolled back and the batch is run
// again event by event, each under a savepoint: the events whose queries
// fail are skipped and returned as []*EventError (and logged), the rest
// commit. Queries with no EventID are never skipped: if one of them fails,
// nothing commits and the error is returned. The returned error is non-nil
// only when nothing was committed.
func (d *DB) ExecQueries(ctx context.Context, queries []Query) ([]*EventError, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	if len(queries) == 0 {
		return nil, nil
	}
	return d.applyBuilt(ctx, nil, func(context.Context, *sqlx.Tx) ([]Query, error) { return queries, nil })
}

// applyBuilt runs the queries build returns in one transaction, as
// ExecQueries does: merged, or, when a query fails, event by event
// with the failing events skipped. build runs inside the transaction (once
// per attempt), so what it reads is what the queries apply to. note, if
// not nil, says what the transaction changed, once the queries ran, for
// the change log (see inTxNote).
func (d *DB) applyBuilt(ctx context.Context, note func(n *changelog.Note), build func(ctx context.Context, tx *sqlx.Tx) ([]Query, error)) ([]*EventError, error) {
	var buildErr error
	var n changelog.Note
	noted := func() {
		n = changelog.Note{}
		if note != nil {
			note(&n)
		}
	}
	err := d.inTxNote(ctx, &n, func(tx *sqlx.Tx) error {
		qs, err := build(ctx, tx)
		if err != nil {
			buildErr = err
			return err
		}
		err = withOverlays(ctx, tx, func() error { return d.runFast(ctx, tx, qs) })
		noted()
		return err
	})
	if err == nil {
		return nil, nil
	}
	if ctx.Err() != nil || buildErr != nil {
		return nil, err
	}
	var skipped []*EventError
	err = d.inTxNote(ctx, &n, func(tx *sqlx.Tx) error {
		qs, err := build(ctx, tx)
		if err != nil {
			return err
		}
		err = withOverlays(ctx, tx, func() error {
			skipped, err = d.runSafe(ctx, tx, qs)
			return err
		})
		noted()
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		d.log.Warn("offlinedb: skipped an event that could not be applied", "event_id", s.EventID, "error", s.Err)
	}
	return skipped, nil
}

// inTx runs fn in a write transaction and commits it when fn returns nil.
func (d *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return d.inTxNote(ctx, nil, fn)
}

// inTxNote is inTx for a transaction the app hears about: what fn noted in
// note (if not nil) is appended to the change log in the same transaction,
// so other processes on the store hear of it (see ChangesSince).
func (d *DB) inTxNote(ctx context.Context, note *changelog.Note, fn func(tx *sqlx.Tx) error) error {
	done, err := d.turnToWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	tx, err := d.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("offlinedb: begin: %w", err)
	}
	err = fn(tx)
	if err == nil && note != nil {
		err = changelog.Append(ctx, tx, d.origin, note)
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("offlinedb: commit: %w", err)
	}
	return nil
}

// turnToWrite waits for this process's turn to write to the store (see
// DB.writes), or for ctx to end, and returns the function that ends the
// turn.
func (d *DB) turnToWrite(ctx context.Context) (done func(), err error) {
	select {
	case d.writes <- struct{}{}:
		return func() { <-d.writes }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("offlinedb: wait to write: %w", ctx.Err())
	}
}

// stmtCache runs the statements of one transaction, each prepared once
// per connection (see internal/stmtcache).
type stmtCache struct {
	tx *sqlx.Tx
	st *stmtcache.Tx
}

func (d *DB) stmtsFor(tx *sqlx.Tx) *stmtCache {
	return &stmtCache{tx: tx, st: d.stmts.Tx(tx)}
}

func (c *stmtCache) exec(ctx context.Context, query string, args []any) error {
	return c.st.Exec(ctx, query, args...)
}

// runFast runs the whole batch with merged statements.
func (d *DB) runFast(ctx context.Context, tx *sqlx.Tx, queries []Query) error {
	c := d.stmtsFor(tx)
	touches := collectTouches(queries)
	if err := touchBefore(ctx, c, touches); err != nil {
		return err
	}
	if err := execMerged(ctx, c, dropSupersededRecords(queries), mergedRows); err != nil {
		return err
	}
	return touchAfter(ctx, c, touches)
}

// execMerged runs queries in order, consecutive ones of one template as
// statements of rows(n) rows each, n the rows of the run left.
func execMerged(ctx context.Context, c *stmtCache, queries []Query, rows func(n int) int) error {
	var args []any
	for i := 0; i < len(queries); {
		q := queries[i]
		if q.tmpl == nil {
			if err := c.exec(ctx, q.SQL, q.Args); err != nil {
				return &batchError{index: i, err: err}
			}
			i++
			continue
		}
		j := i + 1
		for j < len(queries) && queries[j].tmpl == q.tmpl {
			j++
		}
		j = i + rows(j-i)
		args = args[:0]
		for k := i; k < j; k++ {
			args = append(args, queries[k].Args...)
		}
		if err := c.exec(ctx, q.tmpl.sqlFor(j-i), args); err != nil {
			return &batchError{index: i, err: err}
		}
		i = j
	}
	return nil
}

type batchError struct {
	index int
	err   error
}

func (e *batchError) Error() string {
	return fmt.Sprintf("offlinedb: batch query %d: %v", e.index, e.err)
}
func (e *batchError) Unwrap() error { return e.err }

// runSafe runs the batch one event at a time under savepoints, skipping the
// events that fail.
func (d *DB) runSafe(ctx context.Context, tx *sqlx.Tx, queries []Query) ([]*EventError, error) {
	c := d.stmtsFor(tx)
	var skipped []*EventError
	var kept []Query
	for i := 0; i < len(queries); {
		j := i + 1
		if queries[i].EventID != "" {
			for j < len(queries) && queries[j].EventID == queries[i].EventID {
				j++
			}
		}
		group := queries[i:j]
		if _, err := tx.ExecContext(ctx, "SAVEPOINT ev"); err != nil {
			return nil, err
		}
		err := touchBefore(ctx, c, collectTouches(group))
		for k := 0; err == nil && k < len(group); k++ {
			err = c.exec(ctx, group[k].SQL, group[k].Args)
		}
		if err != nil {
			if ctx.Err() != nil || group[0].EventID == "" {
				return nil, err
			}
			if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO ev"); rbErr != nil {
				return nil, errors.Join(err, rbErr)
			}
			skipped = append(skipped, &EventError{EventID: group[0].EventID, Err: err})
		} else {
			kept = append(kept, group...)
		}
		if _, err := tx.ExecContext(ctx, "RELEASE ev"); err != nil {
			return nil, err
		}
		i = j
	}
	return skipped, touchAfter(ctx, c, collectTouches(kept))
}

func collectTouches(queries []Query) []channelTouch {
	var out []channelTouch
	index := make(map[string]int)
	for _, q := range queries {
		t := q.touch
		if t == nil {
			continue
		}
		i, ok := index[t.cid]
		if !ok {
			index[t.cid] = len(out)
			out = append(out, *t)
			continue
		}
		o := &out[i]
		o.seq = max(o.seq, t.seq)
		o.version = max(o.version, t.version)
		o.activity = max(o.activity, t.activity)
	}
	return out
}

// A stub channel row lets an event for a channel we do not have yet apply
// (members and reads hang off channels), and makes sure the channel is
// synced from now on. A deleted channel gets no stub. One statement takes
// the touches of many channels (a page touches up to one per channel).
var stubChannels = newTemplate(`INSERT INTO channels (cid, type, id, stub)
SELECT v.column1, v.column2, v.column3, 1 FROM (VALUES `, 4,
	`) AS v WHERE NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'channel' AND t.key = v.column1 AND t.version >= v.column4)
ON CONFLICT (cid) DO NOTHING`)

// channelProgress moves channels' latest activity on. A channel's position
// (epoch, last_seq, last_event_id) is never moved by an event alone: only
// the sync intents (ApplySyncPage, ApplyLiveEvents, ApplyChannelStates)
// move it, with the events that reach it. Its rows name distinct channels
// (collectTouches merges a channel's touches), with an activity above 0.
var channelProgress = newTemplate(`UPDATE channels SET
	last_message_at = CASE WHEN v.column2 > coalesce(channels.last_message_at, 0) THEN v.column2 ELSE channels.last_message_at END
FROM (VALUES `, 2, `) AS v WHERE channels.cid = v.column1`)

func touchBefore(ctx context.Context, c *stmtCache, touches []channelTouch) error {
	args := make([]any, 0, 4*min(len(touches), maxMergedRows))
	return execRows(ctx, c, stubChannels, len(touches), mergedRows, args, func(args []any, i int) []any {
		t := &touches[i]
		return append(args, t.cid, t.typ, t.id, t.version)
	})
}

func touchAfter(ctx context.Context, c *stmtCache, touches []channelTouch) error {
	active := make([]*channelTouch, 0, len(touches))
	for i := range touches {
		if touches[i].activity > 0 {
			active = append(active, &touches[i])
		}
	}
	args := make([]any, 0, 2*min(len(active), maxMergedRows))
	return execRows(ctx, c, channelProgress, len(active), mergedRows, args, func(args []any, i int) []any {
		return append(args, active[i].cid, active[i].activity)
	})
}

// execRows runs n rows of template t, rows(left) a statement; row
// appends the i-th row's arguments to args.
func execRows(ctx context.Context, c *stmtCache, t *rowTemplate, n int, rows func(n int) int, args []any, row func(args []any, i int) []any) error {
	for lo := 0; lo < n; {
		hi := lo + rows(n-lo)
		args = args[:0]
		for i := lo; i < hi; i++ {
			args = row(args, i)
		}
		if err := c.exec(ctx, t.sqlFor(hi-lo), args); err != nil {
			return err
		}
		lo = hi
	}
	return nil
}
