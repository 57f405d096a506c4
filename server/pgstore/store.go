package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outpostsync/outpost/server"
)

// Options tune a Store. The zero value is the default.
type Options struct {
	// Now is the server's clock. Nil means time.Now.
	Now func() time.Time
	// MaxConns caps the pool's connections, unless the DSN sets
	// pool_max_conns. Zero means 20.
	MaxConns int32
	// IdleInTransactionTimeout ends a session that holds a transaction
	// open without using it, so a stuck node cannot hold row locks, or
	// the broker's watermark, for long. Zero means 30s.
	IdleInTransactionTimeout time.Duration
	// FollowPoll is how often Follow looks for other nodes' commits when
	// no notification wakes it. Zero means 100ms.
	FollowPoll time.Duration
	// Logger gets the store's logs (the follower's reconnects). Nil
	// means logs are dropped.
	Logger *slog.Logger
}

// Store is the Postgres Store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	dsn  string
	now  func() time.Time
	node string // this instance's name in the events it writes
	poll time.Duration
	log  *slog.Logger
	// notify carries Committed's wake-ups to the notifier, ephemeral
	// Broadcast's payloads to the broadcaster (follow.go).
	notify    chan struct{}
	ephemeral chan string
	// opened is the watermark when the Store opened: Follow reports the
	// commits of transactions from there on.
	opened string
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string), applies the schema's migrations, and returns the Store.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 20
	}
	if opts.IdleInTransactionTimeout <= 0 {
		opts.IdleInTransactionTimeout = 30 * time.Second
	}
	if opts.FollowPoll <= 0 {
		opts.FollowPoll = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	node := newEpoch()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if !hasParam(dsn, "pool_max_conns") {
		cfg.MaxConns = opts.MaxConns
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["idle_in_transaction_session_timeout"]; !ok {
		rp["idle_in_transaction_session_timeout"] = fmt.Sprint(opts.IdleInTransactionTimeout.Milliseconds())
	}
	rp["outpost.node"] = node
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = "outpostd"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable(fmt.Errorf("pgstore: %w", err))
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, unavailable(err)
	}
	var opened string
	if err := pool.QueryRow(ctx, qWatermark).Scan(&opened); err != nil {
		pool.Close()
		return nil, unavailable(fmt.Errorf("pgstore: %w", err))
	}
	return &Store{pool: pool, dsn: dsn, now: opts.Now, node: node, poll: opts.FollowPoll, log: opts.Logger,
		notify: make(chan struct{}, 1), ephemeral: make(chan string, 1024), opened: opened}, nil
}

// hasParam reports whether a DSN sets a parameter (pgxpool takes its own
// pool_* parameters out before pgx parses the rest, so look at the text).
func hasParam(dsn, name string) bool { return strings.Contains(dsn, name+"=") }

// DSN returns the DSN the Store was opened with.
func (s *Store) DSN() string { return s.dsn }

// Pool returns the Store's connection pool, for the broker and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Kind names the store in /healthz.
func (s *Store) Kind() string { return "postgres" }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return unavailable(s.pool.Ping(ctx)) }

// ServerID returns the id made with the database.
func (s *Store) ServerID(ctx context.Context) (string, error) {
	var id string
	if err := s.pool.QueryRow(ctx, `SELECT server_id FROM server_identity WHERE id = 1`).Scan(&id); err != nil {
		return "", unavailable(fmt.Errorf("pgstore: server id: %w", err))
	}
	return id, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newEpoch returns a fresh random log epoch.
func newEpoch() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// maxAttempts bounds how often Update runs a transaction that Postgres
// aborted to break a deadlock.
const maxAttempts = 10

// Update runs fn in one READ COMMITTED transaction.
//
// A write that takes the counters of several logs (two channels, a
// channel and feeds) may deadlock with another taking them in the other
// order; Postgres aborts one of the two, and Update runs fn again in a
// new transaction, up to maxAttempts times. So it does when two writes
// with one idempotency key ran at once (on two nodes, a client's retry
// beside its first try): the second finds the first's answer. fn must therefore set, not
// accumulate, what it hands out of the transaction, as the server's
// writes do.
func (s *Store) Update(ctx context.Context, fn func(tx server.Tx) error) error {
	var err error
	for attempt := range maxAttempts {
		err = s.run(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, true, fn)
		if !retryable(err) || attempt == maxAttempts-1 {
			break
		}
		// A random pause, growing, so that the write Postgres aborted
		// does not run straight back into the one it deadlocked with.
		pause := time.Duration(mrand.Int64N(int64(min(200*time.Millisecond, 5*time.Millisecond<<attempt))))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return unavailable(err)
}

// View runs fn in a REPEATABLE READ READ ONLY transaction: one snapshot.
func (s *Store) View(ctx context.Context, fn func(tx server.Tx) error) error {
	return unavailable(s.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, false, fn))
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, write bool, fn func(tx server.Tx) error) error {
	ptx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("pgstore: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// fn failed or panicked: give the connection back clean.
			_ = ptx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := fn(&tx{tx: ptx, ctx: ctx, clock: s.clock, write: write}); err != nil {
		return err
	}
	committed = true
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	return nil
}

// pruneLockKey is the advisory lock that lets one node prune at a time.
const pruneLockKey = 0x6f75_7470_7072_756e // "outpprun"

// Prune cuts every log's head by age and, for channels, by count, and
// forgets old idempotency keys, in one transaction. While another node
// prunes, it returns 0 at once.
func (s *Store) Prune(ctx context.Context, before time.Time, maxPerChannel int) (int, error) {
	var n int
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(ptx pgx.Tx) error {
		var got bool
		if err := ptx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(pruneLockKey)).Scan(&got); err != nil {
			return err
		}
		if !got {
			return nil
		}
		for _, l := range []struct {
			log    *logTable
			maxLen int
		}{{channelLog, maxPerChannel}, {feedLog, 0}} {
			k, err := l.log.prune(ctx, ptx, before.UnixMicro(), l.maxLen)
			n += k
			if err != nil {
				return err
			}
		}
		// A span that ended at or before its log's cut covers no event
		// left to deliver.
		if _, err := ptx.Exec(ctx, `DELETE FROM member_spans s USING channels c
WHERE s.cid = c.cid AND s.to_seq <= c.pruned_seq`); err != nil {
			return err
		}
		_, err := ptx.Exec(ctx, `DELETE FROM idempotency WHERE created_at < $1`, before.UnixMicro())
		return err
	})
	if err != nil {
		return 0, unavailable(fmt.Errorf("pgstore: prune: %w", err))
	}
	return n, nil
}

var (
	_ server.Store     = (*Store)(nil)
	_ server.StoreInfo = (*Store)(nil)
)

var errNoRows = pgx.ErrNoRows

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
