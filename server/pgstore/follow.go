package pgstore

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// notifyChannel is the LISTEN/NOTIFY channel that wakes followers.
const notifyChannel = "outpost_events"

// The follower's queries. A pass reads, in one snapshot, the watermark
// and the events of the transactions with xid in [from, watermark): all
// of them have ended, and every one that committed is visible.
const (
	qWatermark    = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`
	qTailChannels = `SELECT cid, payload FROM events
WHERE xid >= $1::text::xid8 AND xid < $2::text::xid8 AND node <> $3 ORDER BY cid, seq`
	qTailFeeds = `SELECT user_id, payload FROM feed_events
WHERE xid >= $1::text::xid8 AND xid < $2::text::xid8 AND node <> $3 ORDER BY user_id, seq`
	qTailMembers = `SELECT cid, user_id FROM members WHERE cid = ANY($1) ORDER BY cid, user_id`
	qNotify      = `SELECT pg_notify('` + notifyChannel + `', '')`
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
// opened until ctx ends (see server.CommitFeed). It tails the event tables past
// a watermark of ended transactions (pg_snapshot_xmin), woken by NOTIFY
// and, failing that, every FollowPoll. A transaction that stays open
// holds the watermark back: the pool's sessions end one idle in a
// transaction after Options.IdleInTransactionTimeout.
func (s *Store) Follow(ctx context.Context, fn func(ds []server.Delivery)) {
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.listen(ctx, wake) }()
	go func() { defer wg.Done(); s.notifier(ctx) }()
	defer wg.Wait()

	from := s.opened // the watermark reached
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
		next, ds, err := s.tail(ctx, from)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("pgstore: follow", "error", err)
			}
			continue
		}
		from = next
		if len(ds) > 0 {
			fn(ds)
		}
	}
}

// tail reads the watermark and the events other nodes
// committed in transactions from from up to it, with their recipients.
func (s *Store) tail(ctx context.Context, from string) (string, []server.Delivery, error) {
	var to string
	var ds []server.Delivery
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		ds = nil
		if err := tx.QueryRow(ctx, qWatermark).Scan(&to); err != nil {
			return err
		}
		if from == to {
			return nil
		}
		chans, err := tailRows(ctx, tx, qTailChannels, from, to, s.node)
		if err != nil {
			return err
		}
		if len(chans) > 0 {
			var cids []string
			for _, r := range chans {
				if len(cids) == 0 || cids[len(cids)-1] != r.key {
					cids = append(cids, r.key)
				}
			}
			members := map[string][]string{}
			rows, err := tx.Query(ctx, qTailMembers, cids)
			if err != nil {
				return err
			}
			var cid, user string
			if _, err := pgx.ForEachRow(rows, []any{&cid, &user}, func() error {
				members[cid] = append(members[cid], user)
				return nil
			}); err != nil {
				return err
			}
			for _, r := range chans {
				ds = append(ds, server.Delivery{Event: r.ev, Log: server.LogChannel(r.key), Recipients: members[r.key]})
			}
		}
		feeds, err := tailRows(ctx, tx, qTailFeeds, from, to, s.node)
		if err != nil {
			return err
		}
		for _, r := range feeds {
			ds = append(ds, server.Delivery{Event: r.ev, Log: server.LogFeed(r.key), Recipients: []string{r.key}})
		}
		return nil
	})
	return to, ds, err
}

type tailRow struct {
	key string
	ev  protocol.Event
}

func tailRows(ctx context.Context, tx pgx.Tx, query, from, to, node string) ([]tailRow, error) {
	rows, err := tx.Query(ctx, query, from, to, node)
	if err != nil {
		return nil, err
	}
	var out []tailRow
	var key, payload string
	_, err = pgx.ForEachRow(rows, []any{&key, &payload}, func() error {
		var ev protocol.Event
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			return err
		}
		out = append(out, tailRow{key: key, ev: ev})
		return nil
	})
	return out, err
}

// listen holds a connection that LISTENs for notifyChannel and turns each
// notification into a wake-up; it reconnects after a second when the
// connection is lost.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}) {
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
			if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
				return err
			}
			// Commits during a reconnect are found by the pass this
			// wake-up starts.
			signal(wake)
			for {
				if _, err := conn.WaitForNotification(ctx); err != nil {
					return err
				}
				signal(wake)
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

func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

var _ server.CommitFeed = (*Store)(nil)
