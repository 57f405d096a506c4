package pgstore

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// notifyChannel is the LISTEN/NOTIFY channel that wakes followers;
// ephemeralChannel carries events of no log, in the payload.
const (
	notifyChannel    = "outpost_events"
	ephemeralChannel = "outpost_ephemeral"
)

// maxEphemeralPayload keeps a broadcast under NOTIFY's 8000-byte payload
// limit; a larger one (an event for very many recipients) is not sent.
const maxEphemeralPayload = 7900

// ephemeralMsg is the payload of an ephemeral broadcast.
type ephemeralMsg struct {
	Node       string         `json:"n"`
	Event      protocol.Event `json:"e"`
	Recipients []string       `json:"r"`
}

// The follower's queries. A pass reads, in one REPEATABLE READ snapshot,
// the watermark (every transaction below it has ended) and the rows of
// other nodes with xid at or above the last pass's watermark that it has
// not reported yet: the rows of the transactions that committed since.
const (
	qWatermark    = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`
	qTailChannels = `SELECT cid, payload, xid::text FROM events
WHERE xid >= $1::text::xid8 AND node <> $2 AND NOT (xid::text = ANY($3)) ORDER BY cid, seq`
	qTailFeeds = `SELECT user_id, payload, xid::text FROM feed_events
WHERE xid >= $1::text::xid8 AND node <> $2 AND NOT (xid::text = ANY($3)) ORDER BY user_id, seq`
	// The membership spans that may cover the pass's events: those of
	// their channels still open, or ended at or after the lowest seq
	// the pass reports there (lo).
	qTailSpans = `SELECT s.cid, s.user_id, s.from_seq, coalesce(s.to_seq, 9223372036854775807)
FROM unnest($1::text[], $2::bigint[]) AS p(cid, lo)
JOIN member_spans s ON s.cid = p.cid AND (s.to_seq IS NULL OR s.to_seq >= p.lo)
ORDER BY s.cid, s.user_id`
	qNotify    = `SELECT pg_notify('` + notifyChannel + `', '')`
	qBroadcast = `SELECT pg_notify('` + ephemeralChannel + `', $1)`
)

// Committed wakes the other nodes' followers: a NOTIFY sent by the
// notifier, outside the write's transaction (a NOTIFY inside it would
// serialise every such commit on one lock). Wake-ups coalesce: at most
// one waits while one is sent.
func (s *Store) Committed() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Follow reports the events other nodes commit, from when the Store
// opened until ctx ends (see server.CommitFeed). It tails the event
// tables past a watermark of ended transactions (pg_snapshot_xmin),
// remembering the transactions at or above it that it reported; a pass
// runs when NOTIFY wakes it and, failing that, every FollowPoll. Each
// pass reports the transactions that committed since the last one, so a
// transaction that stays open delays no other's delivery; it only keeps
// the watermark, and the rows a pass looks through, from moving on (the
// pool's sessions end one idle in a transaction after
// Options.IdleInTransactionTimeout).
func (s *Store) Follow(ctx context.Context, fn func(ds []server.Delivery)) {
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.listen(ctx, wake, fn) }()
	go func() { defer wg.Done(); s.notifier(ctx) }()
	go func() { defer wg.Done(); s.broadcaster(ctx) }()
	defer wg.Wait()

	f := follower{from: s.opened, seen: map[string]bool{}}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		t.Reset(s.poll)
		ds, err := s.tail(ctx, &f)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("pgstore: follow", "error", err)
			}
			continue
		}
		if len(ds) > 0 {
			fn(ds)
		}
	}
}

// follower is where Follow stands: the watermark of its last pass, and
// the transactions at or above it whose rows it reported.
type follower struct {
	from string
	seen map[string]bool // xid -> reported
}

// tail runs one pass: it returns the events of other nodes' transactions
// that committed since the last pass, with their recipients, and moves f
// on. Each channel's events come in seq order: a snapshot holds a prefix
// of every log, so a pass reports the seqs that follow the last pass's.
func (s *Store) tail(ctx context.Context, f *follower) ([]server.Delivery, error) {
	var to string
	var ds []server.Delivery
	var xids []string
	seen := make([]string, 0, len(f.seen))
	for x := range f.seen {
		seen = append(seen, x)
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		ds, xids = nil, nil
		if err := tx.QueryRow(ctx, qWatermark).Scan(&to); err != nil {
			return err
		}
		chans, err := tailRows(ctx, tx, qTailChannels, f.from, s.node, seen)
		if err != nil {
			return err
		}
		spans, err := tailSpans(ctx, tx, chans)
		if err != nil {
			return err
		}
		for _, r := range chans {
			ds = append(ds, server.Delivery{Event: r.ev, Log: server.LogChannel(r.key), Recipients: membersAt(spans[r.key], r.ev.Seq)})
			xids = append(xids, r.xid)
		}
		feeds, err := tailRows(ctx, tx, qTailFeeds, f.from, s.node, seen)
		if err != nil {
			return err
		}
		for _, r := range feeds {
			ds = append(ds, server.Delivery{Event: r.ev, Log: server.LogFeed(r.key), Recipients: []string{r.key}})
			xids = append(xids, r.xid)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, x := range xids {
		f.seen[x] = true
	}
	f.from = to
	lo, _ := strconv.ParseUint(to, 10, 64)
	for x := range f.seen {
		if n, _ := strconv.ParseUint(x, 10, 64); n < lo {
			delete(f.seen, x) // below the watermark: never read again
		}
	}
	return ds, nil
}

// span is a membership of a channel from the event at seq from to the
// one at seq to (math.MaxInt64 while it lasts).
type span struct {
	user     string
	from, to int64
}

// tailSpans reads, in the pass's snapshot, the membership spans of the
// channels of rows (sorted by channel and seq) that may cover them.
func tailSpans(ctx context.Context, tx pgx.Tx, rows []tailRow) (map[string][]span, error) {
	var cids []string
	var lows []int64
	for _, r := range rows {
		if len(cids) == 0 || cids[len(cids)-1] != r.key {
			cids = append(cids, r.key)
			lows = append(lows, r.ev.Seq)
		}
	}
	out := map[string][]span{}
	if len(cids) == 0 {
		return out, nil
	}
	q, err := tx.Query(ctx, qTailSpans, cids, lows)
	if err != nil {
		return nil, err
	}
	var cid string
	var sp span
	_, err = pgx.ForEachRow(q, []any{&cid, &sp.user, &sp.from, &sp.to}, func() error {
		out[cid] = append(out[cid], sp)
		return nil
	})
	return out, err
}

// membersAt returns the users whose spans (sorted by user) cover seq:
// the recipients of the event there, who are the members before it plus
// those it adds, as the node that wrote it delivers it.
func membersAt(spans []span, seq int64) []string {
	var out []string
	for _, sp := range spans {
		if sp.from <= seq && seq <= sp.to && (len(out) == 0 || out[len(out)-1] != sp.user) {
			out = append(out, sp.user)
		}
	}
	return out
}

type tailRow struct {
	key, xid string
	ev       protocol.Event
}

func tailRows(ctx context.Context, tx pgx.Tx, query, from, node string, seen []string) ([]tailRow, error) {
	rows, err := tx.Query(ctx, query, from, node, seen)
	if err != nil {
		return nil, err
	}
	var out []tailRow
	var key, payload, xid string
	_, err = pgx.ForEachRow(rows, []any{&key, &payload, &xid}, func() error {
		var ev protocol.Event
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			return err
		}
		out = append(out, tailRow{key: key, xid: xid, ev: ev})
		return nil
	})
	return out, err
}

// listen holds a connection that LISTENs for notifyChannel, and turns
// each notification into a wake-up, and for ephemeralChannel, whose
// events of other nodes it hands to fn. It reconnects after a second
// when the connection is lost.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}, fn func(ds []server.Delivery)) {
	for ctx.Err() == nil {
		err := func() error {
			pc, err := s.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			// The connection leaves the pool: a LISTENing session is not
			// for other queries.
			conn := pc.Hijack()
			defer conn.Close(context.WithoutCancel(ctx))
			if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel+"; LISTEN "+ephemeralChannel); err != nil {
				return err
			}
			// Commits during a reconnect are found by the pass this
			// wake-up starts.
			signal(wake)
			for {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					return err
				}
				if n.Channel != ephemeralChannel {
					signal(wake)
					continue
				}
				var m ephemeralMsg
				if json.Unmarshal([]byte(n.Payload), &m) == nil && m.Node != s.node {
					fn([]server.Delivery{{Event: m.Event, Recipients: m.Recipients}})
				}
			}
		}()
		if ctx.Err() != nil {
			return
		}
		s.log.Debug("pgstore: listen", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// notifier sends one NOTIFY per coalesced Committed.
func (s *Store) notifier(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.notify:
		}
		if _, err := s.pool.Exec(ctx, qNotify); err != nil && ctx.Err() == nil {
			s.log.Debug("pgstore: notify", "error", err)
		}
	}
}

// Broadcast queues ephemeral events for the broadcaster; when its queue
// is full they are dropped (see server.CommitFeed).
func (s *Store) Broadcast(ds []server.Delivery) {
	for _, d := range ds {
		b, err := json.Marshal(ephemeralMsg{Node: s.node, Event: d.Event, Recipients: d.Recipients})
		if err != nil || len(b) > maxEphemeralPayload {
			s.log.Debug("pgstore: ephemeral event not broadcast", "type", d.Event.Type, "bytes", len(b))
			continue
		}
		select {
		case s.ephemeral <- string(b):
		default:
		}
	}
}

// broadcaster sends the queued ephemeral events as NOTIFY payloads.
func (s *Store) broadcaster(ctx context.Context) {
	for {
		var payload string
		select {
		case <-ctx.Done():
			return
		case payload = <-s.ephemeral:
		}
		if _, err := s.pool.Exec(ctx, qBroadcast, payload); err != nil && ctx.Err() == nil {
			s.log.Debug("pgstore: broadcast", "error", err)
		}
	}
}

func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

var _ server.CommitFeed = (*Store)(nil)
