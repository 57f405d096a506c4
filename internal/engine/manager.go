package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/clock"
	"github.com/outpostsync/outpost/internal/dispatch"
	"github.com/outpostsync/outpost/protocol"
)

// Manager keeps a Store in step with the server over a Conn. Make one with
// New; it is safe for concurrent use.
type Manager struct {
	conn  Conn
	store Store // the Store given to New, seen through reportingStore
	raw   Store // the Store given to New
	opts  Options
	log   *slog.Logger
	clk   clock.Clock
	disp  *dispatch.Queue

	ctx    context.Context // cancelled by Close; never handed to callers
	cancel context.CancelFunc
	wake   chan struct{}
	wg     sync.WaitGroup

	closeErr   error
	closeOnce  sync.Once
	lockWarned atomic.Bool // a failure to take the sync lock was logged

	liveMu   sync.Mutex
	liveQ    []protocol.Event // live events waiting for runLive
	liveCap  int              // most events liveQ holds (maxLiveQueue)
	liveWake chan struct{}

	mu              sync.Mutex // guards the fields below
	closed          bool
	lock            *os.File // the held Options.SyncLock; nil when not held
	unsubscribe     func()
	unsubscribeErrs func()
	nextID          int
	statListeners   map[int]func(Status)
	changeListeners map[int]func(Change)
	errListeners    map[int]func(*Error)
	changes         *changeSet // changes not yet delivered; nil when none is queued
	callbacks       map[string]callbackEntry
	status          Status
	wantSync        bool
	wantDrain       bool
	waiters         []chan error
	cycles          int           // drain-and-sync cycles started
	downs           int           // connection.changed{online: false} events seen
	syncs           int           // syncs that succeeded (with the connection up)
	syncedGen       int           // the cycle of the last of them
	changed         chan struct{} // closed and replaced at each status change
	// countChanges counts outbox changes stored or being stored whose
	// delta to Status.Pending/Failed is not applied yet, and countGen
	// counts applied deltas: a recount of the outbox applies only when
	// neither moved while it counted (see recount).
	countChanges int
	countGen     uint64
	stoppedAt    string        // the task the last drain stopped at, if any
	serverOffset time.Duration // server time minus local clock, from the last sync
	haveOffset   bool
	// The server's identity (identity.go).
	fatal error          // set once: the manager stopped for good
	met   protocol.Hello // the last hello recorded in the store
	bound string         // the server the store is bound to, "" if none

	// syncResets counts the resets of the sync in flight; the worker's
	// alone.
	syncResets int
}

type callbackEntry struct {
	seq int
	gen int    // cycles started when it was scheduled
	tag string // its tag, to name it in reports
	fn  Callback
}

// Listeners are the listeners a Manager has from its start, so that they
// hear its first events too (the first status, the first change). Nil
// fields are skipped; the On* methods add more later.
type Listeners struct {
	Status func(Status)
	Change func(Change)
	Error  func(*Error)
}

// New returns a started Manager over conn and store: it reads the store's
// server binding, subscribes to the connection's events (and its errors,
// when the Conn reports them) and starts the worker. It does not wait for
// the network: if the connection is up it asks for a drain and, as the
// SyncPolicy says, a sync, as a connection coming up does; if not, the
// manager works when it comes up. ctx bounds the reading of the store.
func New(ctx context.Context, conn Conn, store Store, opts Options, ls Listeners) (*Manager, error) {
	return newWithClock(ctx, conn, store, opts, ls, clock.Real())
}

// newWithClock is New with clk as the source of time for retries and the
// retention check; the package's tests set a fake one.
func newWithClock(ctx context.Context, conn Conn, store Store, opts Options, ls Listeners, clk clock.Clock) (*Manager, error) {
	if conn == nil || store == nil {
		return nil, errors.New("syncmanager: New needs a Conn and a Store")
	}
	opts = withDefaults(opts)
	mctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		conn: conn, raw: store, opts: opts, log: opts.Logger, clk: clk, changed: make(chan struct{}),
		disp: dispatch.New(opts.Logger, "syncmanager: listener or callback"), ctx: mctx, cancel: cancel, wake: make(chan struct{}, 1), liveWake: make(chan struct{}, 1),
		statListeners: map[int]func(Status){}, changeListeners: map[int]func(Change){}, errListeners: map[int]func(*Error){},
		callbacks: map[string]callbackEntry{}, liveCap: maxLiveQueue,
	}
	m.store = reportingStore{Store: store, m: m}
	if ls.Status != nil {
		m.OnStatus(ls.Status)
	}
	if ls.Change != nil {
		m.OnChange(ls.Change)
	}
	if ls.Error != nil {
		m.OnError(ls.Error)
	}
	if err := m.loadBinding(ctx); err != nil {
		cancel()
		return nil, err
	}
	m.disp.Start()
	m.unsubscribe = conn.OnAll(m.onEvent)
	if es, ok := conn.(errorSource); ok {
		m.unsubscribeErrs = es.OnError(m.onConnError)
	}
	// The sync lock is tried before the worker starts, so that a
	// manager that takes it syncs from its first cycle on.
	m.takeLock()
	m.startWatch(ctx)
	m.wg.Add(2)
	go m.run()
	go m.runLive()

	online := conn.IsHealthy()
	m.updateStatus(func(s *Status) {
		s.Online = online
		s.Syncer = m.opts.SyncLock == "" || m.lock != nil // m.mu is held
	})
	m.refreshCounts()
	if online {
		m.requestAutoSync()
	}
	return m, nil
}

// SyncNow drains the outbox and syncs, and waits for it (or ctx). A sync
// already running finishes first, and SyncNow waits for the one after it.
// It returns ErrOffline when the connection is down, and ErrNotSyncer when
// another process syncs the store (see Options.SyncLock).
func (m *Manager) SyncNow(ctx context.Context) error {
	return m.runCycle(ctx, func() { m.wantSync = true })
}

// runCycle asks the worker for a cycle (want, run under m.mu, says what
// it must do) and waits for it to end (or ctx). It returns ErrNotSyncer
// when another process holds the sync lock, and ErrOffline when the
// connection is down.
func (m *Manager) runCycle(ctx context.Context, want func()) error {
	if err := m.fatalErr(); err != nil {
		return err
	}
	if !m.isSyncer() {
		return ErrNotSyncer
	}
	if !m.conn.IsHealthy() {
		return ErrOffline
	}
	done := make(chan error, 1)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	want()
	m.waiters = append(m.waiters, done)
	m.mu.Unlock()
	m.poke()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// autoSync reports whether the policy lets the manager sync by itself now.
func (m *Manager) autoSync() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.autoSyncLocked()
}

func (m *Manager) autoSyncLocked() bool {
	switch m.opts.SyncPolicy {
	case SyncManually:
		return false
	case SyncOnReconnect:
		return m.downs > 0
	}
	return true
}

// requestAutoSync asks for a drain and, if the policy lets the manager
// sync by itself, a sync.
func (m *Manager) requestAutoSync() {
	m.mu.Lock()
	if m.autoSyncLocked() {
		m.wantSync = true
	} else {
		m.wantDrain = true
	}
	m.mu.Unlock()
	m.poke()
}

// requestSync asks for a drain and sync soon; requests coalesce.
func (m *Manager) requestSync() {
	m.mu.Lock()
	m.wantSync = true
	m.mu.Unlock()
	m.poke()
}

// requestDrain asks for a drain of the outbox soon.
func (m *Manager) requestDrain() {
	m.mu.Lock()
	m.wantDrain = true
	m.mu.Unlock()
	m.poke()
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// OnStatus registers a listener for every change of the Status snapshot:
// online, syncing, the Synced flag, counts, progress and errors. It runs
// on the manager's dispatcher goroutine. The returned func unregisters it.
func (m *Manager) OnStatus(listener func(Status)) (unsubscribe func()) {
	return register(m, m.statListeners, listener)
}

// OnError registers a listener for every error the manager would
// otherwise only log or retry (see ErrorKind). It runs on the dispatcher
// goroutine, in order with the other listeners; it must not block. The
// returned func unregisters it.
func (m *Manager) OnError(listener func(*Error)) (unsubscribe func()) {
	return register(m, m.errListeners, listener)
}

// register adds listener to ls, a listener map of m guarded by m.mu, and
// returns its unsubscribe.
func register[F any](m *Manager, ls map[int]F, listener F) (unsubscribe func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextID
	m.nextID++
	ls[id] = listener
	return func() {
		m.mu.Lock()
		delete(ls, id)
		m.mu.Unlock()
	}
}

// ScheduleSyncStatusChangeCallback schedules cb to run once, after the first
// successful sync, with the connection up, of a cycle that started after
// this call: that cycle's drain saw every write made before the call. A
// later schedule with the same tag replaces it.
// Callbacks run in the order they were first scheduled, on the dispatcher
// goroutine, with a context that Close cancels.
func (m *Manager) ScheduleSyncStatusChangeCallback(tag string, cb Callback) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seq := m.nextID
	if old, ok := m.callbacks[tag]; ok {
		seq = old.seq
	}
	m.nextID++
	m.callbacks[tag] = callbackEntry{seq: seq, gen: m.cycles, tag: tag, fn: cb}
}

// Status returns a snapshot of the manager's state.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Close stops the manager: it unsubscribes from the connection, stops the
// worker and the dispatcher, and waits for them, within ctx. Queued
// listener calls still run while ctx allows; once it ends they are
// dropped. Called while a listener runs (from that listener, say), it
// does not wait for the dispatcher, which could be waiting for this very
// call: the queued calls are dropped and the dispatcher ends after that
// listener. It does not close the Conn or the Store. Later calls return
// the first one's result.
func (m *Manager) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		if m.unsubscribe != nil {
			m.unsubscribe()
			m.unsubscribe = nil
		}
		if m.unsubscribeErrs != nil {
			m.unsubscribeErrs()
			m.unsubscribeErrs = nil
		}
		waiters := m.waiters
		m.waiters = nil
		m.mu.Unlock()
		for _, w := range waiters {
			w <- ErrClosed
		}
		m.cancel()
		// The sync lock is given up once the worker stopped, so no other
		// process syncs while this one still may.
		stopped := make(chan struct{})
		go func() { m.wg.Wait(); m.releaseLock(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			m.closeErr = fmt.Errorf("syncmanager: close: the worker did not stop: %w", ctx.Err())
		}
		switch {
		case m.disp.InCallback() || ctx.Err() != nil:
			m.disp.Abandon()
		default:
			if err := m.disp.StopWithin(ctx); err != nil && m.closeErr == nil {
				m.closeErr = fmt.Errorf("syncmanager: close: a listener did not return: %w", err)
			}
		}
	})
	return m.closeErr
}

// updateStatus changes the snapshot under the lock and tells the status
// listeners. Their calls are queued under the lock too, so that changes
// made at once reach them in the order they were made.
func (m *Manager) updateStatus(change func(s *Status)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	change(&m.status)
	st := m.status
	close(m.changed)
	m.changed = make(chan struct{})
	for _, l := range listenersOf(m.statListeners) {
		m.disp.Push(func() { m.call("OnStatus", func() error { l(st); return nil }) })
	}
}

func listenersOf[F any](m map[int]F) []F {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	out := make([]F, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}

func (m *Manager) setSynced(synced bool) {
	m.updateStatus(func(s *Status) { s.Synced = synced })
}

// runCallbacks posts the callbacks scheduled before cycle gen started, and
// clears them.
func (m *Manager) runCallbacks(gen int) {
	m.mu.Lock()
	entries := make([]callbackEntry, 0, len(m.callbacks))
	for tag, e := range m.callbacks {
		if e.gen < gen {
			entries = append(entries, e)
			delete(m.callbacks, tag)
		}
	}
	m.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].seq < entries[j].seq })
	for _, e := range entries {
		m.disp.Push(func() { m.call(e.tag, func() error { return e.fn(m.ctx) }) })
	}
}

func (m *Manager) refreshCounts() {
	for range 5 {
		c, err := m.countTasks(m.ctx)
		if err != nil {
			return
		}
		applied := false
		m.updateStatus(func(s *Status) { applied = c.applyTo(m, s) })
		if applied {
			return
		}
		// An outbox change raced the count; its own delta keeps the
		// status right, and another count will confirm it.
	}
}

// taskCount is a count of the outbox, with what it needs to be applied
// safely.
type taskCount struct {
	pending, failed int
	gen             uint64
	quiet           bool // no outbox change was in flight as it began
}

// countTasks counts the outbox and failed list.
func (m *Manager) countTasks(ctx context.Context) (taskCount, error) {
	m.mu.Lock()
	c := taskCount{gen: m.countGen, quiet: m.countChanges == 0}
	m.mu.Unlock()
	var err error
	c.pending, c.failed, err = m.store.TaskCounts(ctx)
	return c, err
}

// applyTo sets the status's counts from c, under m.mu (in updateStatus),
// unless an outbox change was in flight or applied its delta while c was
// counted: then c may hold a change the status is about to count again,
// or miss one it has counted. It reports whether it applied.
func (c taskCount) applyTo(m *Manager, s *Status) bool {
	if !c.quiet || m.countChanges != 0 || m.countGen != c.gen {
		return false
	}
	s.Pending, s.Failed = c.pending, c.failed
	return true
}

// beginCountChange notes an outbox change about to be stored; the caller
// ends it with endCountChange once stored (or failed), applying its delta.
func (m *Manager) beginCountChange() {
	m.mu.Lock()
	m.countChanges++
	m.mu.Unlock()
}

// endCountChange ends an outbox change, applying delta (nil for none) to
// the status.
func (m *Manager) endCountChange(delta func(s *Status)) {
	m.updateStatus(func(s *Status) {
		m.countChanges--
		m.countGen++
		if delta != nil {
			delta(s)
		}
	})
}

// serverNow estimates the server's clock: the local clock corrected by the
// offset seen at the last sync.
func (m *Manager) serverNow() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clk.Now().Add(m.serverOffset)
}

func (m *Manager) noteServerTime(t time.Time) {
	if t.IsZero() {
		return
	}
	m.mu.Lock()
	m.serverOffset = t.Sub(m.clk.Now())
	m.haveOffset = true
	m.mu.Unlock()
}

// onEvent handles the connection's events, on the connection's dispatcher
// goroutine: connection changes, and live events applied to the store.
func (m *Manager) onEvent(ev client.Event) {
	switch ev.Type {
	case client.EventConnectionChanged:
		m.updateStatus(func(s *Status) {
			s.Online = ev.Online
			if ev.Online {
				s.LastError = nil // the server is reachable again
			} else {
				s.Synced = false
				m.downs++ // updateStatus holds m.mu
			}
		})
		if ev.Online {
			m.requestAutoSync()
		}
		return
	case protocol.EventHealthCheck, client.EventConnectionRecovered:
		return
	}
	if ev.Type.IsEphemeral() || !ev.Type.Known() {
		return
	}
	m.liveMu.Lock()
	if len(m.liveQ) >= m.liveCap {
		// The store cannot keep up: drop the event and let a sync bring
		// it, rather than grow without bound.
		m.liveMu.Unlock()
		m.requestAutoSync()
		return
	}
	m.liveQ = append(m.liveQ, ev.Event)
	m.liveMu.Unlock()
	select {
	case m.liveWake <- struct{}{}:
	default:
	}
}

// maxLiveQueue bounds the live events waiting to be applied.
const maxLiveQueue = 10_000

// maxLiveBatch caps the live events applied in one transaction.
const maxLiveBatch = 1000

// runLive applies live events as they come, all those waiting in one
// transaction: a busy connection then costs a commit per burst, not per
// event. Its order against a sync's pages does not matter: every upsert is
// guarded by the entity's version.
func (m *Manager) runLive() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.liveWake:
		}
		for {
			m.liveMu.Lock()
			n := min(len(m.liveQ), maxLiveBatch)
			batch := m.liveQ[:n:n]
			m.liveQ = m.liveQ[n:]
			if len(m.liveQ) == 0 {
				m.liveQ = nil
			}
			m.liveMu.Unlock()
			if n == 0 || m.ctx.Err() != nil {
				break
			}
			m.applyLive(m.ctx, batch)
		}
	}
}

// applyLive applies a burst of live events in one transaction (see
// store.ApplyLiveEvents). What cannot be applied in order (a gap, a
// channel not held, a feed event) asks for a sync to bring it.
func (m *Manager) applyLive(ctx context.Context, evs []protocol.Event) {
	res, err := m.store.ApplyLiveEvents(ctx, evs)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("syncmanager: live events not applied", "events", len(evs), "error", err)
			m.requestAutoSync()
		}
		return
	}
	m.noteLive(evs, res.AppliedEvents)
	m.reportSkipped(res.Skipped)
	if res.NeedSync {
		m.requestAutoSync()
	}
}
