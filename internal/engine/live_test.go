package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/engine"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// gatedStore counts ApplyLiveEvents calls and holds the first one until
// the gate opens.
type gatedStore struct {
	*store.DB
	gate    chan struct{}
	mu      sync.Mutex
	armed   bool
	batches int
	entered chan struct{}
}

func (g *gatedStore) ApplyLiveEvents(ctx context.Context, evs []protocol.Event) (store.LiveResult, error) {
	g.mu.Lock()
	g.batches++
	first := g.armed && g.batches == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.gate
	}
	return g.DB.ApplyLiveEvents(ctx, evs)
}

// liveFixture is a manager over a gated store, past its first sync and
// one live event, with the gate armed: the next store batch holds until
// the gate opens.
type liveFixture struct {
	m           *engine.Manager
	conn        *fakeConn
	store       *gatedStore
	hs          []client.Handler
	syncsBefore int
}

func newLiveFixture(t *testing.T) *liveFixture {
	ctx := context.Background()
	conn := newFakeConn("bob")
	conn.healthy = true
	conn.addChannel("team:a")
	gs := &gatedStore{DB: openStore(t), gate: make(chan struct{}), entered: make(chan struct{})}
	m := newManagerWith(t, conn, gs, engine.Options{}, engine.Listeners{})
	if err := m.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	conn.mu.Lock()
	var hs []client.Handler
	for _, h := range conn.handlers {
		hs = append(hs, h)
	}
	conn.mu.Unlock()
	// A first live event: the channel's state came with its position, so
	// it applies in order.
	warm := conn.post("team:a", "warm", "up")
	for _, h := range hs {
		h(client.Event{Event: warm})
	}
	waitFor(t, "the first live event", func() bool { _, err := gs.Message(ctx, "warm"); return err == nil })
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if pos, _ := gs.SyncPositions(ctx); len(pos.Channels) != 1 || pos.Channels[0].Seq != warm.Seq {
		t.Fatalf("positions = %+v after a sync, want team:a at %d", pos.Channels, warm.Seq)
	}
	conn.mu.Lock()
	syncsBefore := conn.syncCalls
	conn.mu.Unlock()
	gs.mu.Lock()
	gs.batches, gs.armed = 0, true
	gs.mu.Unlock()
	return &liveFixture{m: m, conn: conn, store: gs, hs: hs, syncsBefore: syncsBefore}
}

// emit delivers n new live events while the first burst is held in the
// gs, then opens the gate and waits until the last one is stored.
func (f *liveFixture) emit(t *testing.T, n int) {
	ctx := context.Background()
	conn, gs, hs := f.conn, f.store, f.hs
	var last string
	for i := range n {
		last = fmt.Sprintf("live%04d", i)
		ev := conn.post("team:a", last, "text")
		for _, h := range hs {
			h(client.Event{Event: ev})
		}
		if i == 0 {
			<-gs.entered // the first burst is in the gs; the rest queue
		}
	}
	close(gs.gate)
	waitFor(t, "every live event applied", func() bool { _, err := gs.Message(ctx, last); return err == nil })
}

// TestManager_LiveEventsApplyInBursts: live events that arrive while the
// gs is busy are applied together, in one transaction per burst, and
// all of them land.
func TestManager_LiveEventsApplyInBursts(t *testing.T) {
	ctx := context.Background()
	f := newLiveFixture(t)
	conn, gs, syncsBefore := f.conn, f.store, f.syncsBefore
	const n = 1500
	f.emit(t, n)
	ms, err := gs.Messages(ctx, "team:a", store.MessagesQuery{Limit: 2 * n})
	if err != nil || len(ms) < n {
		t.Fatalf("gs has %d messages (%v), want %d", len(ms), err, n)
	}
	conn.mu.Lock()
	if conn.syncCalls != syncsBefore {
		t.Errorf("live events in sequence made %d sync calls", conn.syncCalls-syncsBefore)
	}
	conn.mu.Unlock()
	gs.mu.Lock()
	defer gs.mu.Unlock()
	// One held batch, then the 1,499 queued behind it in bursts of at
	// most 1,000.
	if gs.batches > 3 {
		t.Errorf("%d transactions for %d live events, want at most 3", gs.batches, n)
	}
}

// TestManager_LiveQueueIsBounded: past the queue's bound (10,000 waiting
// live events; 300 here) the rest are dropped and a sync fetches them
// instead: every event still lands.
func TestManager_LiveQueueIsBounded(t *testing.T) {
	ctx := context.Background()
	f := newLiveFixture(t)
	engine.SetLiveQueueCap(f.m, 300)
	f.conn.mu.Lock()
	f.conn.pageSize = 100
	f.conn.mu.Unlock()
	const n = 400
	f.emit(t, n)
	waitFor(t, "every event stored", func() bool {
		ms, err := f.store.Messages(ctx, "team:a", store.MessagesQuery{Limit: 2 * n})
		return err == nil && len(ms) >= n
	})
	f.conn.mu.Lock()
	defer f.conn.mu.Unlock()
	if f.conn.syncCalls == f.syncsBefore {
		t.Error("events dropped from a full queue, and no sync asked for")
	}
}
