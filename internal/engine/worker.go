package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/clock"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// backoffClock lets backoff/v4 read the injected clock.
type backoffClock struct{ c clock.Clock }

func (b backoffClock) Now() time.Time { return b.c.Now() }

// run is the worker: the one goroutine that drains and syncs, so that only
// one sync runs at a time. Requests made while it works coalesce into one
// more cycle; a failed cycle is retried on a backoff timer.
func (m *Manager) run() {
	defer m.wg.Done()
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     m.opts.RetryMinDelay,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         m.opts.RetryMaxDelay,
		Clock:               backoffClock{m.clk},
	}
	bo.Reset()
	var retry clock.Timer
	retryFull := false // whether the retry syncs, or only drains
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	var lockTimer clock.Timer // while another process holds the sync lock
	defer func() {
		if lockTimer != nil {
			lockTimer.Stop()
		}
	}()
	for {
		var retryC, lockC <-chan time.Time
		if retry != nil {
			retryC = retry.C()
		}
		if !m.isSyncer() {
			if lockTimer == nil {
				lockTimer = m.clk.NewTimer(lockRetry)
			}
			lockC = lockTimer.C()
		}
		select {
		case <-m.ctx.Done():
			return
		case <-m.wake:
		case <-lockC:
			lockTimer = nil
			if m.tryLock() {
				// Take over: send what waits in the outbox, and sync
				// as the policy says.
				m.requestAutoSync()
			}
			continue
		case <-retryC:
			retry = nil
			m.mu.Lock()
			if retryFull {
				m.wantSync = true
			} else {
				m.wantDrain = true
			}
			m.mu.Unlock()
		}
		m.mu.Lock()
		full, drain := m.wantSync, m.wantDrain
		m.wantSync, m.wantDrain = false, false
		waiters := m.waiters
		m.waiters = nil
		if m.opts.SyncLock != "" && m.lock == nil {
			// Another process syncs; the request goes to it through the
			// outbox, and a takeover drains and syncs anyway.
			m.mu.Unlock()
			for _, w := range waiters {
				w <- ErrNotSyncer
			}
			continue
		}
		if full || drain {
			m.cycles++
		}
		gen := m.cycles
		m.mu.Unlock()
		if !full && !drain {
			continue
		}
		var err error
		var drainFailed bool
		if !m.conn.IsHealthy() {
			// connection.changed{online} will ask again. The counts are
			// made exact meanwhile: a cycle that ended as the connection
			// went may have overwritten a write's increment.
			err = ErrOffline
			m.refreshCounts()
		} else if err = m.fatalErr(); err == nil {
			if err = m.meetConnHello(m.ctx); err == nil {
				m.takeStoppedAt()
				drainFailed, err = m.cycle(full, gen)
			}
		}
		for _, w := range waiters {
			w <- err
		}
		switch {
		case err == nil:
			bo.Reset()
			retryFull = false
			if retry != nil {
				retry.Stop()
				retry = nil
			}
		case errors.Is(err, ErrOffline) || m.ctx.Err() != nil:
		case isServerMismatch(err):
			m.stop(err) // no retry: the manager is done
		default:
			d := bo.NextBackOff()
			if ra, ok := client.RetryAfter(err); ok && ra > d {
				d = ra
			}
			if retry != nil {
				retry.Stop()
			}
			retry = m.clk.NewTimer(d)
			// The retry repeats what failed: a sync the app asked for
			// is retried whatever the policy.
			retryFull = full || retryFull
			m.log.Info("syncmanager: will retry", "in", d, "error", err)
			e := &Error{Kind: ErrorSyncRetry, Err: err, RetryIn: d}
			if drainFailed {
				e.Kind, e.TaskID = ErrorDrainRetry, m.takeStoppedAt()
			}
			m.report(e)
		}
	}
}

// cycle drains the outbox and, if full, syncs. The status becomes true
// after a successful sync, and the callbacks scheduled before the cycle
// (number gen) started run. drainFailed says err is the drain's.
func (m *Manager) cycle(full bool, gen int) (drainFailed bool, err error) {
	ctx := m.ctx
	var downs int
	m.updateStatus(func(s *Status) { s.Syncing = true; s.Progress = Progress{}; downs = m.downs })
	drainErr := m.drain(ctx)
	var syncErr error
	if full && !isServerMismatch(drainErr) {
		syncErr = m.sync(ctx)
	}
	err = syncErr
	if err == nil && drainErr != nil {
		err, drainFailed = drainErr, true
	}
	counts, countErr := m.countTasks(ctx)
	last, _, _ := m.store.LastSyncedAt(ctx)
	// Online is the connection's state now, not as last reported: the
	// connection.changed event of a connection that came up before the
	// cycle may still be on its way, and a sync that succeeded over it
	// makes the store synced. A drop reported during the cycle wins.
	online := m.conn.IsHealthy()
	synced := full && syncErr == nil && online
	m.updateStatus(func(s *Status) {
		s.Syncing = false
		if countErr == nil {
			counts.applyTo(m, s) // unless a write raced it: its delta counts it
		}
		s.LastSyncedAt = last
		s.LastError = err
		if m.downs != downs {
			online, synced = false, false
		}
		if online {
			s.Online = true
		}
		if synced {
			s.Synced = true
			m.syncs++ // updateStatus holds m.mu
			m.syncedGen = gen
		}
	})
	if synced {
		m.runCallbacks(gen)
	}
	return drainFailed, err
}

// maxStateFetches bounds how often one sync fetches the state of one
// channel: a server that resets a channel again right after its state was
// stored would otherwise keep the sync going for ever.
const maxStateFetches = 3

// maxResets bounds the whole-cache resets of one sync: a server that asks
// for another right after the refill is retried later, with the refilled
// cache kept.
const maxResets = 1

// sync brings the store up to date from its positions: the membership feed
// and every channel it holds, page by page, each page committed with the
// positions it reaches. Channels new to the store, or reset by the server,
// get their state fetched and go on from the position that state carries.
// Then the channels' older history is fetched as the History policy says
// (fetchHistory).
// The whole cache is reset (keeping the outbox) only when the last sync is
// past the retention window, or the server says the cache's history is
// lost.
//
// A store not bound to a server yet (one that synced before stores were
// bound by id) is bound to this one after a sync that needed no reset of
// any kind.
func (m *Manager) sync(ctx context.Context) (err error) {
	user := m.conn.UserID()
	if user == "" {
		return nil
	}
	fetched := map[string]int{}
	m.syncResets = 0
	defer func() {
		if err == nil && m.syncResets == 0 {
			err = m.adoptServer(ctx)
		}
	}()
	for resets := 0; ; resets++ {
		err := m.checkRetention(ctx, user)
		if err == nil {
			err = m.syncOnce(ctx, user, fetched)
		}
		if err == nil {
			err = m.fetchHistory(ctx, fetched)
		}
		if !client.NeedsReset(err) {
			return err
		}
		if resets == maxResets {
			// Keep what the last refill brought; the retry asks again.
			return fmt.Errorf("syncmanager: the server asked for a reset again after %d: %w", resets, err)
		}
		m.syncResets++
		if err := m.resetCache(ctx, err.Error()); err != nil {
			return err
		}
	}
}

// checkRetention returns CodeSyncPositionTooOld when the last complete
// sync is older than the server's retention window (from its last hello):
// the server may have pruned what followed it, so the cache is reset
// rather than synced. It is checked once a sync, before it asks anything:
// the rounds of one sync store newer times as they go. Before any hello
// is known the server judges alone (it answers CodeSyncPositionTooOld).
func (m *Manager) checkRetention(ctx context.Context, user string) error {
	window := m.retention()
	if window <= 0 {
		return nil
	}
	last, ok, err := m.store.LastSyncedAt(ctx)
	if err != nil || !ok {
		return err
	}
	if age := m.serverNow().Sub(last); age > window {
		return &protocol.APIError{Code: protocol.CodeSyncPositionTooOld, StatusCode: 410,
			Message: fmt.Sprintf("last sync is %s old, past the server's %s retention window", age.Round(time.Hour), window)}
	}
	return nil
}

// syncOnce runs rounds of sync requests until every channel is caught up.
// A round sends every position the store holds (in requests of at most
// MaxChannelsPerSync), pages each request to its end, and fetches the state
// of the channels the pages ask for; a round that fetched states is
// followed by another, for the events after them.
func (m *Manager) syncOnce(ctx context.Context, user string, fetched map[string]int) error {
	// Fetches of records a restart interrupted go on first.
	if err := m.fetchRecords(ctx); err != nil {
		return err
	}
	for {
		pos, err := m.store.SyncPositions(ctx)
		if err != nil {
			return err
		}
		var need []string
		chans := pos.Channels
		for first := true; first || len(chans) > 0; first = false {
			n := min(len(chans), m.opts.MaxChannelsPerSync)
			req := protocol.SyncRequest{LastSyncAt: pos.LastSyncAt, Feed: pos.Feed, Channels: chans[:n], Limit: m.opts.PageSize}
			chans = chans[n:]
			more, err := m.syncRequest(ctx, user, req)
			if err != nil {
				return err
			}
			need = append(need, more...)
			// The feed moved with the first request's pages.
			if p, err := m.store.SyncPositions(ctx); err == nil {
				pos.Feed = p.Feed
			} else {
				return err
			}
		}
		if len(need) == 0 {
			return nil
		}
		if err := m.fetchStates(ctx, need, fetched); err != nil {
			return err
		}
	}
}

type pageResult struct {
	resp     *protocol.SyncResponse
	prepared *store.PreparedSyncPage // set when the store prepares pages
	err      error
}

// prefetchPages is how many pages the fetcher may hold ahead of the one
// being applied: fetching and decoding run on their own goroutine, beside
// the local writes.
const prefetchPages = 2

// syncRequest pages one sync request to its end and returns the channels
// whose state must be fetched. A fetcher runs ahead of the pages' apply, by
// up to prefetchPages pages, so decoding, building the pages' queries and
// the network leave the critical path: each page's request is the one before, moved on by that
// page's positions (nextRequest), which needs nothing from the store.
func (m *Manager) syncRequest(ctx context.Context, user string, req protocol.SyncRequest) ([]string, error) {
	fctx, cancel := context.WithCancel(ctx)
	pages := make(chan pageResult, prefetchPages)
	go func() {
		defer close(pages)
		for {
			resp, err := m.conn.Sync(fctx, req)
			if err == nil && resp.More {
				var next protocol.SyncRequest
				if next, err = nextRequest(req, resp); err == nil {
					req = next
				}
			}
			var prepared *store.PreparedSyncPage
			if err != nil {
				resp = nil
			} else {
				// Building a page's queries is the fetcher's work, beside
				// the apply of the page before.
				prepared = m.store.PrepareSyncPage(resp)
			}
			select {
			case pages <- pageResult{resp, prepared, err}:
			case <-fctx.Done():
				return
			}
			if err != nil || !resp.More {
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range pages { // the fetcher must not outlive the sync
		}
	}()
	var need []string
	for r := range pages {
		if r.err != nil {
			return nil, r.err
		}
		resp := r.resp
		if resp.Hello != nil {
			if err := m.meetServer(ctx, *resp.Hello); err != nil {
				return nil, err
			}
		}
		if resetsIn(resp) {
			m.syncResets++
		}
		m.noteServerTime(resp.SyncedAt)
		res, err := m.store.ApplyPreparedSyncPage(ctx, r.prepared)
		if err != nil {
			return nil, err
		}
		m.notePage(resp, res)
		m.reportSkipped(res.Skipped)
		need = append(need, res.NeedState...)
		m.updateStatus(func(s *Status) {
			s.Progress.Pages++
			s.Progress.Events += len(resp.Events) + len(resp.Feed.Events)
		})
		if !resp.More {
			return need, nil
		}
	}
	// The fetcher stopped without an error or a last page: ctx ended.
	return nil, ctx.Err()
}

// catchUpPageMax bounds the pages a sync asks for after a full one (see
// nextRequest): a page of this many events of ordinary size, decoded and
// prepared, with prefetchPages more behind it, keeps the heap well under
// 64 MB.
const catchUpPageMax = 2000

// nextRequest returns req with its positions moved on by resp: the
// request for the page after resp. Channels the page reset or found
// inaccessible are left out (their state is fetched, or they are gone).
// A request that left the page size to the server (Limit 0) goes on,
// past a full page, with the largest the server takes (its hello's
// SyncPageMax), up to catchUpPageMax: a long gap costs fewer pages, each
// with its own request, positions and local transaction.
func nextRequest(req protocol.SyncRequest, resp *protocol.SyncResponse) (protocol.SyncRequest, error) {
	next := req
	if h := resp.Hello; req.Limit == 0 && h != nil && h.SyncPageMax > 0 {
		next.Limit = min(h.SyncPageMax, catchUpPageMax)
	}
	feed := resp.Feed.Position
	if feed.IsZero() {
		return next, fmt.Errorf("%w: a sync page without a feed position", ErrProtocol)
	}
	next.Feed = &feed
	moved := make(map[string]*protocol.ChannelSync, len(resp.Channels))
	for i := range resp.Channels {
		moved[resp.Channels[i].CID] = &resp.Channels[i]
	}
	next.Channels = make([]protocol.ChannelPosition, 0, len(req.Channels))
	for _, p := range req.Channels {
		if cs, ok := moved[p.CID]; ok {
			if cs.Status != protocol.ChannelOK {
				continue
			}
			if cs.Position == nil {
				return next, fmt.Errorf("%w: channel %s has no position in a sync page", ErrProtocol, p.CID)
			}
			p.Position = *cs.Position
		}
		next.Channels = append(next.Channels, p)
	}
	return next, nil
}

// fetchStates fetches the state of the channels cids, at most
// protocol.MaxQueryCIDs a request, and stores each with its position.
func (m *Manager) fetchStates(ctx context.Context, cids []string, fetched map[string]int) error {
	slices.Sort(cids)
	cids = slices.Compact(cids)
	for _, cid := range cids {
		if fetched[cid]++; fetched[cid] > maxStateFetches {
			return fmt.Errorf("%w: the server reset channel %s again after %d fetches of its state",
				ErrProtocol, cid, maxStateFetches)
		}
	}
	for len(cids) > 0 {
		n := min(len(cids), protocol.MaxQueryCIDs)
		resp, err := m.conn.QueryChannels(ctx, protocol.QueryChannelsRequest{CIDs: cids[:n], MessageLimit: m.opts.RefillMessageLimit})
		if err != nil {
			return err
		}
		if err := m.store.ApplySyncStates(ctx, resp.Channels, resp.Inaccessible); err != nil {
			return err
		}
		m.noteStates(resp.Channels, resp.Inaccessible)
		cids = cids[n:]
	}
	return m.fetchRecords(ctx)
}

// recordsPageSize is how many records a page of a channel's records asks
// for (the server's most).
const recordsPageSize = 2000

// fetchRecords fetches the records of every channel whose state a sync
// stored (see store.DB.RecordFetches), including fetches a restart
// interrupted.
func (m *Manager) fetchRecords(ctx context.Context) error {
	fetches, err := m.store.RecordFetches(ctx)
	if err != nil {
		return err
	}
	for _, f := range fetches {
		if err := m.fetchChannelRecords(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// fetchChannelRecords stores every live record of a channel, page by page
// (each page in a transaction of its own, so memory stays flat), after
// its state: the pages are read at or after the state's position, from
// which the sync goes on, and a record changed meanwhile is applied again
// by the sync with the version guard. The last page's transaction turns
// the records the server deleted while the store was not following the
// channel into tombstones. A channel the server no longer shows (gone
// since its state, or a server without records) has none to hold: the
// sync that follows says what became of the channel. The next page is
// fetched while a page is written (prefetch).
func (m *Manager) fetchChannelRecords(ctx context.Context, f store.RecordFetch) error {
	after := f.After
	pages, stop := prefetch(ctx, func(ctx context.Context) (*protocol.RecordsResponse, bool, error) {
		resp, err := m.conn.Records(ctx, f.CID, after, recordsPageSize)
		if err != nil {
			return nil, false, err
		}
		more := resp.Next != "" && resp.Next != after
		after = resp.Next
		return resp, more, nil
	})
	defer stop()
	for p := range pages {
		if ae, ok := protocol.AsAPIError(p.err); ok && (ae.Code == protocol.CodeNotFound || ae.Code == protocol.CodeNotAllowed) {
			m.log.Info("syncmanager: no records to hold for a channel", "cid", f.CID, "error", p.err)
			return m.store.EndRecordFetch(ctx, f.CID)
		}
		if p.err != nil {
			return p.err
		}
		swept, err := m.store.ApplyRecordsPage(ctx, f.CID, p.value)
		if err != nil {
			return err
		}
		m.noteRecords(p.value.Records, swept)
		if !p.more {
			return nil
		}
	}
	// The fetcher stopped without an error or a last page: ctx ended.
	return ctx.Err()
}

// fetched is one result of prefetch's fetch.
type fetched[T any] struct {
	value T
	more  bool
	err   error
}

// prefetch calls fetch on a goroutine of its own, one result ahead of
// the one its caller is using (so that the network and decoding run
// beside the caller's writes), until fetch says no more follow or fails.
// The channel closes after the last result, or when ctx ends; stop ends
// the goroutine and waits for it.
func prefetch[T any](ctx context.Context, fetch func(ctx context.Context) (T, bool, error)) (<-chan fetched[T], func()) {
	fctx, cancel := context.WithCancel(ctx)
	out := make(chan fetched[T], 1)
	go func() {
		defer close(out)
		for {
			v, more, err := fetch(fctx)
			select {
			case out <- fetched[T]{v, more, err}:
			case <-fctx.Done():
				return
			}
			if err != nil || !more {
				return
			}
		}
	}()
	return out, func() {
		cancel()
		for range out { // the fetcher must not outlive its caller
		}
	}
}

// resetCache clears the cached server data, keeping the outbox; the sync
// that follows refills it.
func (m *Manager) resetCache(ctx context.Context, reason string) error {
	m.log.Warn("syncmanager: resetting the local cache", "reason", reason)
	if err := m.store.ResetDB(ctx); err != nil {
		return err
	}
	m.noteReset()
	return nil
}
