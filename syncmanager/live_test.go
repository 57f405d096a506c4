package syncmanager_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/syncmanager"
)

// gatedStore counts ExecuteSQLBatch calls and holds the first one until
// the gate opens.
type gatedStore struct {
	*offlinedb.DB
	gate    chan struct{}
	mu      sync.Mutex
	armed   bool
	batches int
	entered chan struct{}
}

func (g *gatedStore) ExecuteSQLBatch(ctx context.Context, qs []offlinedb.Query) ([]*offlinedb.EventError, error) {
	g.mu.Lock()
	g.batches++
	first := g.armed && g.batches == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.gate
	}
	return g.DB.ExecuteSQLBatch(ctx, qs)
}

// TestManager_LiveEventsApplyInBursts: live events that arrive while the
// store is busy are applied together, in one transaction per burst, and
// all of them land.
func TestManager_LiveEventsApplyInBursts(t *testing.T) {
	ctx := context.Background()
	conn := newFakeConn("bob")
	conn.healthy = true
	conn.addChannel("team:a")
	store := &gatedStore{DB: openStore(t), gate: make(chan struct{}), entered: make(chan struct{})}
	m, err := syncmanager.New(conn, store, syncmanager.Options{RetryMinDelay: 1e6, RetryMaxDelay: 5e6})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	conn.mu.Lock()
	var hs []client.Handler
	for _, h := range conn.handlers {
		hs = append(hs, h)
	}
	conn.mu.Unlock()
	// A first live event: the refill left the channel without its
	// sequence number, so it makes one sync; after that the store knows
	// where the channel is.
	warm := conn.post("team:a", "warm", "up")
	for _, h := range hs {
		h(warm)
	}
	waitFor(t, "the first live event", func() bool { _, err := store.Message(ctx, "warm"); return err == nil })
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if seq, _ := store.ChannelLastSeq(ctx, "team:a"); seq != warm.Seq {
		t.Fatalf("channel last_seq = %d after a sync, want %d", seq, warm.Seq)
	}
	conn.mu.Lock()
	syncsBefore := conn.syncCalls
	conn.mu.Unlock()
	store.mu.Lock()
	store.batches, store.armed = 0, true
	store.mu.Unlock()
	const n = 1500
	var last string
	for i := range n {
		last = fmt.Sprintf("live%04d", i)
		ev := conn.post("team:a", last, "text")
		for _, h := range hs {
			h(ev)
		}
		if i == 0 {
			<-store.entered // the first burst is in the store; the rest queue
		}
	}
	close(store.gate)
	waitFor(t, "every live event applied", func() bool { _, err := store.Message(ctx, last); return err == nil })
	ms, err := store.Messages(ctx, "team:a", offlinedb.MessagesQuery{Limit: 2 * n})
	if err != nil || len(ms) < n {
		t.Fatalf("store has %d messages (%v), want %d", len(ms), err, n)
	}
	conn.mu.Lock()
	if conn.syncCalls != syncsBefore {
		t.Errorf("live events in sequence made %d sync calls", conn.syncCalls-syncsBefore)
	}
	conn.mu.Unlock()
	store.mu.Lock()
	defer store.mu.Unlock()
	// One held batch, then the 1,499 queued behind it in bursts of at
	// most 1,000.
	if store.batches > 3 {
		t.Errorf("%d transactions for %d live events, want at most 3", store.batches, n)
	}
}
