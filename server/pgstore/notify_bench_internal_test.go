package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
)

// BenchmarkNotify measures commits/s of 16 concurrent writers, each on a
// channel of its own (so no counter row is shared), with the followers'
// wake-up sent as the store sends it, after the commit (Committed and the
// coalescing notifier), and with a NOTIFY inside each write's transaction
// instead. The two run in turn, twice each, in one run: PostgreSQL takes
// a database-wide lock to queue a transaction's notifications at commit,
// which the in-transaction variant holds across every commit.
func BenchmarkNotify(b *testing.B) {
	const writers = 16
	const window = 3 * time.Second
	ctx := context.Background()
	s, err := Open(ctx, pgtest.DSN(b), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// A follower, so the notifier runs and a session LISTENs, as on a node.
	fctx, stop := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { defer close(followed); s.Follow(fctx, func([]server.Delivery) {}) }()
	defer func() { stop(); <-followed }()

	cids := make([]string, writers)
	if err := s.Update(ctx, func(t server.Tx) error {
		for i := range cids {
			cids[i] = fmt.Sprintf("team:n%d", i)
			if err := t.PutChannel(protocol.Channel{CID: cids[i], Type: "team", ID: fmt.Sprintf("n%d", i), CreatedAt: t.Now(), UpdatedAt: t.Now()}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}

	// write appends one event to cid's log, as a send does, and sends
	// the wake-up inside or after the transaction.
	write := func(cid string, inside bool) error {
		id := newEpoch()
		err := s.Update(ctx, func(t server.Tx) error {
			pos, err := t.NextPosition(cid, id)
			if err != nil {
				return err
			}
			ev := protocol.Event{ID: id, Type: protocol.EventMessageNew, CID: cid, Seq: pos.Seq, Epoch: pos.Epoch, CreatedAt: t.Now()}
			if err := t.AppendEvent(ev); err != nil {
				return err
			}
			if inside {
				return t.(*tx).exec(qNotify)
			}
			return nil
		})
		if err == nil && !inside {
			s.Committed()
		}
		return err
	}
	run := func(b *testing.B, inside bool) {
		for range b.N {
			var commits atomic.Int64
			done := make(chan struct{})
			var wg sync.WaitGroup
			for _, cid := range cids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-done:
							return
						default:
						}
						if err := write(cid, inside); err != nil {
							b.Error(err)
							return
						}
						commits.Add(1)
					}
				}()
			}
			start := time.Now()
			time.Sleep(window) // the measuring window
			close(done)
			wg.Wait()
			b.ReportMetric(float64(commits.Load())/time.Since(start).Seconds(), "commits/s")
		}
	}
	for round := range 2 {
		b.Run(fmt.Sprintf("after-commit/round=%d", round+1), func(b *testing.B) { run(b, false) })
		b.Run(fmt.Sprintf("inside-tx/round=%d", round+1), func(b *testing.B) { run(b, true) })
	}
}
