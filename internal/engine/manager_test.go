package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/clock"
	"github.com/outpostsync/outpost/internal/engine"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// managerSetup says how startManager sets a manager up. The zero value is
// bob's manager with default options, on the real clock, offline.
type managerSetup struct {
	opts      engine.Options
	listeners engine.Listeners // they hear from the start
	clock     clock.Clock      // nil: the real clock
	online    bool             // the connection is up and the first sync done
}

// startManager starts bob's manager, as s says, over a new store and a
// fake connection that holds channel team:a.
func startManager(tb testing.TB, s managerSetup) (*engine.Manager, *fakeConn, *store.DB) {
	tb.Helper()
	conn := newFakeConn("bob")
	conn.healthy = s.online
	conn.addChannel("team:a")
	db := openStore(tb)
	var clk []clock.Clock
	if s.clock != nil {
		clk = append(clk, s.clock)
	}
	m := newManagerWith(tb, conn, db, s.opts, s.listeners, clk...)
	if s.online {
		if err := m.WaitForFirstSync(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	return m, conn, db
}

// newManagerWith starts a manager over conn and db with listeners that
// hear from the start, with clk as its clock when one is given.
func newManagerWith(tb testing.TB, conn engine.Conn, db engine.Store, opts engine.Options, ls engine.Listeners, clk ...clock.Clock) *engine.Manager {
	tb.Helper()
	if opts.RetryMinDelay == 0 {
		opts.RetryMinDelay, opts.RetryMaxDelay = time.Millisecond, 5*time.Millisecond
	}
	c := clock.Real()
	if len(clk) > 0 {
		c = clk[0]
	}
	m, err := engine.NewWithClock(context.Background(), conn, db, opts, ls, c)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// statusLog records the changes of Status.Synced in order.
type statusLog struct {
	mu   sync.Mutex
	got  []bool
	seen bool // got holds a first value
}

// add is a status listener: it records s.Synced when it changed.
func (l *statusLog) add(s engine.Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen || l.got[len(l.got)-1] != s.Synced {
		l.got, l.seen = append(l.got, s.Synced), true
	}
}
func (l *statusLog) list() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.got...)
}

func texts(tb testing.TB, db *store.DB, cid string) []string {
	tb.Helper()
	ms, err := db.Messages(context.Background(), cid, store.MessagesQuery{Limit: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Text+"/"+string(m.Status))
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestManager_OfflineStory(t *testing.T) {
	ctx := context.Background()
	var log statusLog
	// Online at the start, then the connection drops: status true, then
	// false.
	m, conn, db := startManager(t, managerSetup{listeners: engine.Listeners{Status: log.add}, online: true})
	var ran atomic.Int32
	conn.setOnline(false)
	waitFor(t, "status false", func() bool { return !m.Status().Synced })
	// Offline, writes wait in the outbox.
	if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{ID: "b1", Text: "first"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{ID: "b2", Text: "second"}); err != nil {
		t.Fatal(err)
	}
	conn.post("team:a", "a1", "from alice")
	// Scheduled while offline: runs once, after the next sync.
	m.ScheduleSyncStatusChangeCallback("welcome", func(context.Context) error { ran.Add(1); return nil })
	if got := texts(t, db, "team:a"); !equal(got, []string{"first/pending", "second/pending"}) {
		t.Fatalf("offline store = %v, want the two pending messages", got)
	}

	// Back online: drain in order, then sync brings alice's message.
	conn.setOnline(true)
	waitFor(t, "sync status true", func() bool { return m.Status().Synced })
	if got := conn.writesSoFar(); !equal(got, []string{"send:b1", "send:b2"}) {
		t.Errorf("server saw writes %v, want b1 then b2", got)
	}
	waitFor(t, "callback and listener", func() bool { return ran.Load() == 1 && len(log.list()) == 4 })
	got := texts(t, db, "team:a")
	// Server time orders them: alice posted before the drain reached the server.
	if !equal(got, []string{"from alice/sent", "first/sent", "second/sent"}) {
		t.Errorf("store after sync = %v", got)
	}
	if l := log.list(); fmt.Sprint(l) != "[false true false true]" {
		t.Errorf("Synced changes = %v, want [false true false true]", l)
	}
	if st := m.Status(); st.Pending != 0 || st.LastSyncedAt.IsZero() || st.LastError != nil {
		t.Errorf("status = %+v", st)
	}

	// The callback was one-shot.
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("callback ran %d times, want once", n)
	}
	conn.setOnline(false)
	waitFor(t, "status false", func() bool { return !m.Status().Synced })
}

func TestManager_CallbacksAndListenersIsolated(t *testing.T) {
	ctx := context.Background()
	m, conn, _ := startManager(t, managerSetup{})
	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	m.OnStatus(func(engine.Status) { panic("listener bug") })
	var good statusLog
	m.OnStatus(good.add)
	m.ScheduleSyncStatusChangeCallback("a", func(context.Context) error { note("a-old"); return nil })
	m.ScheduleSyncStatusChangeCallback("b", func(context.Context) error { panic("callback bug") })
	m.ScheduleSyncStatusChangeCallback("c", func(context.Context) error { note("c"); return errors.New("fails") })
	m.ScheduleSyncStatusChangeCallback("a", func(context.Context) error { note("a-new"); return nil }) // replaces

	conn.setOnline(true)
	if err := m.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	if !m.Status().Synced {
		t.Fatal("status is not true after a panicking listener")
	}
	waitFor(t, "callbacks", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if !equal(order, []string{"a-new", "c"}) {
		t.Errorf("callbacks ran %v, want [a-new c] (a replaced in place, b's panic contained)", order)
	}
	if l := good.list(); fmt.Sprint(l) != "[false true]" {
		t.Errorf("the good listener saw Synced %v, want [false true]", l)
	}
}

// TestManager_CloseUnsubscribes: a started manager holds one subscription
// to the connection, and Close gives it back.
func TestManager_CloseUnsubscribes(t *testing.T) {
	m, conn, _ := startManager(t, managerSetup{})
	if n := conn.handlerCount(); n != 1 {
		t.Errorf("handlers after New = %d, want 1", n)
	}
	m.Close(context.Background())
	if n := conn.handlerCount(); n != 0 {
		t.Errorf("handlers after Close = %d, want 0", n)
	}
}

// TestManager_TransientErrorsNeverReset: a timeout, a 500, a rate limit, a
// network error and an unknown error each keep the checkpoint and the
// cache, and the retry succeeds.
func TestManager_TransientErrorsNeverReset(t *testing.T) {
	for name, err := range map[string]error{
		"timeout":      &protocol.APIError{Code: protocol.CodeTimeout, StatusCode: 408},
		"server error": &protocol.APIError{Code: protocol.CodeInternal, StatusCode: 500},
		"rate limited": &protocol.APIError{Code: protocol.CodeRateLimited, StatusCode: 429},
		"network":      &client.TransportError{Op: "sync", Err: errors.New("connection reset")},
		"garbage":      &client.DecodeError{Op: "sync", StatusCode: 200, Err: errors.New("unexpected end of JSON")},
		"unknown":      errors.New("something odd"),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// The retry waits on this clock, so the checks below run
			// before it.
			clk := clock.NewFake(time.Now())
			m, conn, db := startManager(t, managerSetup{opts: engine.Options{RetryMinDelay: time.Millisecond, RetryMaxDelay: time.Millisecond},
				clock: clk, online: true})
			conn.post("team:a", "a1", "before")
			if err := m.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
			before, _, _ := db.LastSyncedAt(ctx)

			conn.post("team:a", "a2", "after")
			conn.mu.Lock()
			conn.syncErrs = []error{err}
			conn.mu.Unlock()
			if got := m.SyncNow(ctx); got == nil {
				t.Fatal("SyncNow succeeded through an injected error")
			}
			if after, _, _ := db.LastSyncedAt(ctx); !after.Equal(before) {
				t.Errorf("checkpoint moved on error: %v -> %v", before, after)
			}
			if got := texts(t, db, "team:a"); len(got) != 1 {
				t.Errorf("cache after error = %v, want untouched [before]", got)
			}
			// The backoff timer retries by itself.
			bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := clk.BlockUntil(bctx, 1); err != nil {
				t.Fatalf("no retry timer: %v", err)
			}
			// Other timers (the change log's watch) share the fake clock:
			// advance until the retry has run, bounded.
			deadline := time.Now().Add(30 * time.Second)
			for len(texts(t, db, "team:a")) != 2 {
				if time.Now().After(deadline) {
					t.Fatal("timed out waiting for retry")
				}
				clk.Advance(time.Second)
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestManager_ResetWhenServerSaysPositionLost(t *testing.T) {
	for name, code := range map[string]int{"too old": protocol.CodeSyncPositionTooOld, "history lost": protocol.CodeSyncHistoryLost} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			m, conn, db := startManager(t, managerSetup{online: true})
			// A cached row the server no longer has: a reset drops it.
			if err := db.ApplyEvent(ctx, &protocol.Event{ID: "x", Type: protocol.EventMessageNew, CID: "team:a", Seq: 99,
				CreatedAt: time.Now(), Message: &protocol.Message{ID: "stale", CID: "team:a", Text: "stale", Version: 99}}); err != nil {
				t.Fatal(err)
			}
			// A write waiting in the outbox must survive the reset and
			// be sent.
			conn.mu.Lock()
			conn.healthy = false
			conn.mu.Unlock()
			if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{ID: "keep", Text: "unsent"}); err != nil {
				t.Fatal(err)
			}
			conn.post("team:a", "a1", "server side")
			conn.mu.Lock()
			conn.healthy = true
			conn.syncErrs = []error{protocol.NewAPIError(code, "position lost")}
			conn.mu.Unlock()
			if err := m.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
			got := texts(t, db, "team:a")
			if !equal(got, []string{"unsent/sent", "server side/sent"}) && !equal(got, []string{"server side/sent", "unsent/sent"}) {
				t.Errorf("store after reset = %v, want the refilled server state with the outbox sent", got)
			}
			if _, err := db.Message(ctx, "stale"); !errors.Is(err, store.ErrNotFound) {
				t.Error("the reset kept a stale cached row")
			}
		})
	}
}

func TestManager_ResetPast30Days(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(fakeStart)
	m, conn, db := startManager(t, managerSetup{opts: engine.Options{RetryMinDelay: time.Millisecond, RetryMaxDelay: time.Millisecond},
		clock: clk, online: true})
	if err := db.ApplyEvent(ctx, &protocol.Event{ID: "x", Type: protocol.EventMessageNew, CID: "team:a", Seq: 99,
		CreatedAt: conn.now, Message: &protocol.Message{ID: "stale", CID: "team:a", Text: "stale", Version: 99}}); err != nil {
		t.Fatal(err)
	}
	syncsBefore := conn.syncCalls
	clk.Advance(31 * 24 * time.Hour)
	conn.mu.Lock()
	conn.now = conn.now.Add(31 * 24 * time.Hour) // the server's clock too
	conn.mu.Unlock()
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Message(ctx, "stale"); !errors.Is(err, store.ErrNotFound) {
		t.Error("no reset after 31 days")
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	// The cache was reset before asking: the sync starts from scratch,
	// with no positions and no last sync time.
	for _, req := range conn.syncReqs[syncsBefore:] {
		if !req.LastSyncAt.IsZero() && req.LastSyncAt.Before(clk.Now().Add(-30*24*time.Hour)) {
			t.Errorf("a sync was asked from past the retention window: %+v", req)
		}
	}
	if first := conn.syncReqs[syncsBefore]; first.Feed != nil || len(first.Channels) != 0 {
		t.Errorf("first sync after the window = %+v, want one from scratch", first)
	}
}

// TestManager_DrainOrderAndFailures: a temporary failure stops the drain
// so nothing overtakes; a permanent one moves the task to the failed list
// and the drain goes on. Each task goes in a batch of its own here, so
// that the injected errors fall on one task each (batches of several are
// TestManager_BatchDrain's).
func TestManager_DrainOrderAndFailures(t *testing.T) {
	ctx := context.Background()
	m, conn, db := startManager(t, managerSetup{opts: engine.Options{DrainBatchSize: 1}})
	for _, id := range []string{"m1", "m2", "m3"} {
		if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{ID: id, Text: id}); err != nil {
			t.Fatal(err)
		}
	}
	conn.mu.Lock()
	conn.healthy = true
	conn.writeErrs = []error{
		&protocol.APIError{Code: protocol.CodeInternal, StatusCode: 503}, // m1: temporary, stops the drain
		nil, // m1 on retry
		protocol.NewAPIError(protocol.CodeInput, "text too long"), // m2: permanent
		nil, // m3
	}
	conn.mu.Unlock()
	conn.setOnline(true)
	waitFor(t, "outbox empty", func() bool { st := m.Status(); return st.Synced && st.Pending == 0 })
	if got := conn.writesSoFar(); !equal(got, []string{"send:m1", "send:m3"}) {
		t.Errorf("writes = %v, want m1 then m3", got)
	}
	failed, err := db.FailedTasks(ctx)
	if err != nil || len(failed) != 1 || failed[0].MessageID != "m2" || failed[0].ErrorCode != protocol.CodeInput {
		t.Fatalf("failed = %+v, %v; want m2 with code 4", failed, err)
	}
	if msg, _ := db.Message(ctx, "m2"); msg.Status != store.StatusFailed {
		t.Errorf("m2 status = %q, want failed", msg.Status)
	}
	if st := m.Status(); st.Failed != 1 {
		t.Errorf("status failed count = %d, want 1", st.Failed)
	}
}

// TestManager_LostReplyIsSentOnce: the server applied the send but its
// answer was lost; the retry gets the stored message back, no duplicate.
func TestManager_LostReplyIsSentOnce(t *testing.T) {
	ctx := context.Background()
	m, conn, db := startManager(t, managerSetup{online: true})
	// Apply the send on the "server" first, then fail the call as a lost
	// reply would.
	conn.mu.Lock()
	conn.applyMessageLocked("team:a", "once", "bob", "hello")
	conn.writeErrs = []error{&client.TransportError{Op: "send", Err: errors.New("EOF")}}
	conn.mu.Unlock()
	if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{ID: "once", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sent", func() bool {
		msg, _ := db.Message(ctx, "once")
		return msg.Status == store.StatusSent && m.Status().Pending == 0
	})
	n := 0
	for _, e := range conn.events {
		if e.Message != nil && e.Message.ID == "once" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("server has %d events for the message, want 1", n)
	}
}

// TestManager_TriggersCoalesce: triggers that arrive while a sync runs
// make one more sync, not one each.
func TestManager_TriggersCoalesce(t *testing.T) {
	ctx := context.Background()
	m, conn, _ := startManager(t, managerSetup{online: true})
	conn.mu.Lock()
	conn.hold, conn.holding = make(chan struct{}), make(chan struct{})
	base := conn.syncCalls
	hold, holding := conn.hold, conn.holding
	conn.mu.Unlock()

	first := make(chan error, 1)
	go func() { first <- m.SyncNow(ctx) }()
	<-holding // a sync is in flight
	conn.mu.Lock()
	conn.hold = nil
	conn.mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); conn.setOnline(true) }()
	}
	wg.Wait()
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The ten triggers make exactly one more sync; once it has started, a
	// new request needs another.
	waitFor(t, "the coalesced sync", func() bool { conn.mu.Lock(); defer conn.mu.Unlock(); return conn.syncCalls-base >= 2 })
	if err := m.SyncNow(ctx); err != nil { // runs after the coalesced one
		t.Fatal(err)
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	// One held sync, one for the ten triggers, one for the last SyncNow.
	if got := conn.syncCalls - base; got != 3 {
		t.Errorf("sync calls = %d, want 3", got)
	}
}

func TestManager_PagesCommitTheirCheckpoint(t *testing.T) {
	ctx := context.Background()
	m, conn, db := startManager(t, managerSetup{online: true})
	for i := 0; i < 10; i++ {
		conn.post("team:a", "p"+string(rune('a'+i)), "page text")
	}
	// Fail the third page: the first two stay applied with their
	// checkpoint; the next sync resumes from there and converges.
	conn.mu.Lock()
	conn.pageSize = 3
	conn.mu.Unlock()
	var progress []engine.Progress
	var mu sync.Mutex
	m.OnStatus(func(s engine.Status) { mu.Lock(); progress = append(progress, s.Progress); mu.Unlock() })
	if err := m.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got := texts(t, db, "team:a"); len(got) != 10 {
		t.Errorf("messages = %d, want 10", len(got))
	}
	if st := m.Status(); st.Progress.Events != 10 || st.Progress.Pages < 4 {
		t.Errorf("progress = %+v, want 10 events over at least 4 pages", st.Progress)
	}
}

// TestManager_LongGapPagesAtTheServersMax: a sync that leaves the page
// size to the server asks, after a full page, for pages as large as the
// server's hello says it takes (at most 2,000); one with a page size of
// its own keeps it.
func TestManager_LongGapPagesAtTheServersMax(t *testing.T) {
	for _, tc := range []struct {
		name          string
		pageSize, max int
		want          []int // the Limit of each request of the sync
	}{
		{"server's max", 0, 5, []int{0, 5, 5, 5}},
		{"bounded", 0, 50000, []int{0, 2000, 2000, 2000}},
		{"server says none", 0, 0, []int{0, 0, 0, 0}},
		{"page size set", 3, 5, []int{3, 3, 3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m, conn, db := startManager(t, managerSetup{opts: engine.Options{PageSize: tc.pageSize}, online: true})
			for i := 0; i < 10; i++ {
				conn.post("team:a", "p"+string(rune('a'+i)), "page text")
			}
			conn.mu.Lock()
			conn.pageSize = 3 // the fake's pages, whatever the limit
			if tc.max > 0 {
				h := conn.Hello()
				h.SyncPageMax = tc.max
				conn.syncHello = h
			}
			before := len(conn.syncReqs)
			conn.mu.Unlock()
			if err := m.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
			conn.mu.Lock()
			var got []int
			for _, req := range conn.syncReqs[before:] {
				got = append(got, req.Limit)
			}
			conn.mu.Unlock()
			if !slices.Equal(got, tc.want) {
				t.Errorf("limits asked = %v, want %v", got, tc.want)
			}
			if n := len(texts(t, db, "team:a")); n != 10 {
				t.Errorf("messages = %d, want 10", n)
			}
		})
	}
}

// TestManager_LiveEventsAndGaps: live events are applied to the store as
// they come; a sequence gap makes the manager sync to fill it.
func TestManager_LiveEventsAndGaps(t *testing.T) {
	ctx := context.Background()
	_, conn, db := startManager(t, managerSetup{online: true})
	emit := func(ev protocol.Event) {
		conn.mu.Lock()
		hs := make([]client.Handler, 0, len(conn.handlers))
		for _, h := range conn.handlers {
			hs = append(hs, h)
		}
		conn.mu.Unlock()
		for _, h := range hs {
			h(client.Event{Event: ev})
		}
	}
	// In sequence: applied live, no sync.
	conn.mu.Lock()
	base := conn.syncCalls
	conn.mu.Unlock()
	next := conn.post("team:a", "live1", "live")
	emit(next)
	waitFor(t, "the live event applied", func() bool { msg, err := db.Message(ctx, "live1"); return err == nil && msg.Text == "live" })

	// A gap: two events posted, only the second delivered live.
	conn.post("team:a", "missed", "missed")
	emit(conn.post("team:a", "live2", "after the gap"))
	waitFor(t, "the gap filled by a sync", func() bool { _, err := db.Message(ctx, "missed"); return err == nil })
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.syncCalls == base {
		t.Error("no sync after a sequence gap")
	}
}

// TestManager_StatusListenerHearsInOrder: status changes made at once
// from several goroutines reach a status listener in the order they were
// made: the pending count it hears, while writes only add to the outbox,
// never goes down, and the last status it hears is the snapshot's.
func TestManager_StatusListenerHearsInOrder(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var pending []int
	m, _, _ := startManager(t, managerSetup{listeners: engine.Listeners{Status: func(st engine.Status) {
		mu.Lock()
		pending = append(pending, st.Pending)
		mu.Unlock()
	}}})
	const writers, writes = 8, 25
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{ID: fmt.Sprintf("g%d-%d", g, i), Text: "x"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "the listener to hear every write", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(pending, writers*writes)
	})
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(pending); i++ {
		if pending[i] < pending[i-1] {
			t.Fatalf("the listener heard Pending %d after %d (status %d of %d)", pending[i], pending[i-1], i, len(pending))
		}
	}
}
