package syncmanager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/clock"
	"github.com/outpostsync/outpost/offlinedb"
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
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		var retryC <-chan time.Time
		if retry != nil {
			retryC = retry.C()
		}
		select {
		case <-m.ctx.Done():
			return
		case <-m.wake:
		case <-retryC:
			retry = nil
			m.mu.Lock()
			m.wantSync = true
			m.mu.Unlock()
		}
		m.mu.Lock()
		full, drain := m.wantSync, m.wantDrain
		m.wantSync, m.wantDrain = false, false
		waiters := m.waiters
		m.waiters = nil
		m.mu.Unlock()
		if !full && !drain {
			continue
		}
		var err error
		if !m.conn.IsHealthy() {
			// connection.changed{online} will ask again.
			err = ErrOffline
		} else {
			err = m.cycle(full)
		}
		for _, w := range waiters {
			w <- err
		}
		switch {
		case err == nil:
			bo.Reset()
			if retry != nil {
				retry.Stop()
				retry = nil
			}
		case errors.Is(err, ErrOffline) || m.ctx.Err() != nil:
		default:
			d := bo.NextBackOff()
			if ra, ok := client.RetryAfter(err); ok && ra > d {
				d = ra
			}
			if retry != nil {
				retry.Stop()
			}
			retry = m.clk.NewTimer(d)
			m.log.Info("syncmanager: will retry", "in", d, "error", err)
		}
	}
}

// cycle drains the outbox and, if full, syncs. The status becomes true
// after a successful sync, and the scheduled callbacks run.
func (m *Manager) cycle(full bool) error {
	ctx := m.ctx
	m.updateStatus(func(s *Status) { s.Syncing = true; s.Progress = Progress{} })
	drainErr := m.drain(ctx)
	var syncErr error
	if full {
		syncErr = m.sync(ctx)
	}
	err := syncErr
	if err == nil {
		err = drainErr
	}
	pending, failed, _ := m.store.TaskCounts(ctx, m.conn.UserID())
	last, _, _ := m.store.GetLastSyncedAt(ctx, m.conn.UserID())
	synced := full && syncErr == nil
	m.updateStatus(func(s *Status) {
		s.Syncing = false
		s.Pending, s.Failed = pending, failed
		s.LastSyncedAt = last
		s.LastError = err
		if synced && s.Online {
			s.Synced = true
		}
	})
	if synced {
		m.runCallbacks()
	}
	return err
}

// sync brings the store up to date: a refill when it has no checkpoint, a
// reset and refill when the checkpoint is past the retention window or the
// server says the position is lost, and otherwise the events since the
// checkpoint, page by page, each page committed with its checkpoint.
func (m *Manager) sync(ctx context.Context) error {
	user := m.conn.UserID()
	if user == "" {
		return nil
	}
	if err := m.fetchAdded(ctx); err != nil {
		return err
	}
	last, ok, err := m.store.GetLastSyncedAt(ctx, user)
	if err != nil {
		return err
	}
	if !ok {
		return m.refill(ctx, user)
	}
	if age := m.serverNow().Sub(last); age > m.opts.RetentionWindow {
		return m.resetAndRefill(ctx, user, fmt.Sprintf("checkpoint is %s old, past the %s retention window", age.Round(time.Hour), m.opts.RetentionWindow))
	}
	cids, err := m.store.GetAllChannelCids(ctx)
	if err != nil {
		return err
	}
	if len(cids) == 0 {
		return nil
	}
	// With several requests, the checkpoint may only move once all of
	// them are applied, to the earliest of their final times: a failure
	// in a later request must not let the next sync skip its events.
	chunked := len(cids) > m.opts.MaxChannelsPerSync
	var final time.Time
	for start := 0; start < len(cids); start += m.opts.MaxChannelsPerSync {
		chunk := cids[start:min(start+m.opts.MaxChannelsPerSync, len(cids))]
		end, err := m.syncChunk(ctx, user, chunk, last, !chunked)
		if client.NeedsReset(err) {
			return m.resetAndRefill(ctx, user, err.Error())
		}
		if err != nil {
			return err
		}
		if final.IsZero() || end.Before(final) {
			final = end
		}
	}
	if chunked && !final.IsZero() {
		if _, err := m.store.ExecuteSQLBatch(ctx, []offlinedb.Query{offlinedb.SyncStatusQuery(user, final)}); err != nil {
			return err
		}
	}
	return nil
}

type pageResult struct {
	resp *protocol.SyncResponse
	err  error
}

// syncChunk syncs one request's channels through all its pages and returns
// the final page's server time. The next page is fetched while this one is
// applied, so decoding and the network leave the critical path.
func (m *Manager) syncChunk(ctx context.Context, user string, cids []string, last time.Time, checkpointEachPage bool) (time.Time, error) {
	fetch := func(cursor string) <-chan pageResult {
		ch := make(chan pageResult, 1)
		go func() {
			resp, err := m.conn.Sync(ctx, protocol.SyncRequest{ChannelCIDs: cids, LastSyncAt: last, Limit: m.opts.PageSize, Cursor: cursor})
			ch <- pageResult{resp, err}
		}()
		return ch
	}
	next := fetch("")
	for {
		r := <-next
		if r.err != nil {
			return time.Time{}, r.err
		}
		resp := r.resp
		m.noteServerTime(resp.SyncedAt)
		if resp.NextCursor != "" {
			next = fetch(resp.NextCursor)
		}
		if err := m.applyPage(ctx, user, resp, checkpointEachPage); err != nil {
			if resp.NextCursor != "" {
				<-next // the prefetch must not outlive the sync
			}
			return time.Time{}, err
		}
		if resp.NextCursor == "" {
			return resp.SyncedAt, nil
		}
	}
}

// applyPage applies one page's events and, if checkpoint, its server time,
// in one transaction. Invalid events are skipped and logged.
func (m *Manager) applyPage(ctx context.Context, user string, resp *protocol.SyncResponse, checkpoint bool) error {
	qs := make([]offlinedb.Query, 0, len(resp.Events)+1)
	for i := range resp.Events {
		q, err := m.store.HandleEvent(ctx, &resp.Events[i], false)
		if err != nil {
			m.log.Warn("syncmanager: skipped an invalid event", "event_id", resp.Events[i].ID, "error", err)
			continue
		}
		qs = append(qs, q...)
	}
	if checkpoint && !resp.SyncedAt.IsZero() {
		qs = append(qs, offlinedb.SyncStatusQuery(user, resp.SyncedAt))
	}
	skipped, err := m.store.ExecuteSQLBatch(ctx, qs)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		m.log.Warn("syncmanager: an event could not be applied", "event_id", s.EventID, "error", s.Err)
	}
	m.updateStatus(func(s *Status) {
		s.Progress.Pages++
		s.Progress.Events += len(resp.Events)
	})
	return nil
}

func (m *Manager) resetAndRefill(ctx context.Context, user, reason string) error {
	m.log.Warn("syncmanager: resetting the local cache", "reason", reason)
	if err := m.store.ResetDB(ctx); err != nil {
		return err
	}
	return m.refill(ctx, user)
}

const refillPageSize = 100

// refill loads the user's channels from the server, with their members,
// reads and latest messages, and stores the server time the query reports
// as the checkpoint.
func (m *Manager) refill(ctx context.Context, user string) error {
	var qs []offlinedb.Query
	var syncedAt time.Time
	for offset := 0; ; offset += refillPageSize {
		resp, err := m.conn.QueryChannels(ctx, protocol.QueryChannelsRequest{
			Limit: refillPageSize, Offset: offset, MessageLimit: m.opts.RefillMessageLimit})
		if err != nil {
			return err
		}
		if resp.SyncedAt.IsZero() {
			return ErrNoServerTime
		}
		if syncedAt.IsZero() || resp.SyncedAt.Before(syncedAt) {
			syncedAt = resp.SyncedAt
		}
		for _, ch := range resp.Channels {
			qs = append(qs, m.channelQueries(ctx, ch)...)
		}
		if len(resp.Channels) < refillPageSize {
			break
		}
	}
	m.noteServerTime(syncedAt)
	qs = append(qs, offlinedb.SyncStatusQuery(user, syncedAt))
	skipped, err := m.store.ExecuteSQLBatch(ctx, qs)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		m.log.Warn("syncmanager: refill skipped a row", "event_id", s.EventID, "error", s.Err)
	}
	return nil
}

// fetchAdded loads whole the channels the user was added to while online,
// whose history a sync would not bring.
func (m *Manager) fetchAdded(ctx context.Context) error {
	m.mu.Lock()
	cids := make([]string, 0, len(m.fetch))
	for cid := range m.fetch {
		cids = append(cids, cid)
	}
	m.mu.Unlock()
	for _, cid := range cids {
		ch, err := m.conn.GetChannel(ctx, cid)
		if err == nil {
			_, err = m.store.ExecuteSQLBatch(ctx, m.channelQueries(ctx, *ch))
		}
		if err != nil && !taskPermanent(err) {
			return err
		}
		m.mu.Lock()
		delete(m.fetch, cid)
		m.mu.Unlock()
	}
	return nil
}

// channelQueries turns a channel's state, as queries return it, into the
// queries that store it, through the same version-guarded path as events.
func (m *Manager) channelQueries(ctx context.Context, ch protocol.ChannelResponse) []offlinedb.Query {
	cid := ch.Channel.CID
	evs := []protocol.Event{{ID: "state:" + cid, Type: protocol.EventChannelUpdated, CID: cid, Channel: &ch.Channel}}
	for i := range ch.Members {
		evs = append(evs, protocol.Event{ID: "state:" + cid + ":member:" + ch.Members[i].UserID, Type: protocol.EventMemberAdded,
			CID: cid, Member: &ch.Members[i]})
	}
	for i := range ch.Messages {
		evs = append(evs, protocol.Event{ID: "state:msg:" + ch.Messages[i].ID, Type: protocol.EventMessageNew,
			CID: cid, Message: &ch.Messages[i]})
	}
	for i := range ch.Reads {
		evs = append(evs, protocol.Event{ID: "state:" + cid + ":read:" + ch.Reads[i].UserID, Type: protocol.EventMessageRead,
			CID: cid, Read: &ch.Reads[i]})
	}
	var qs []offlinedb.Query
	for i := range evs {
		evs[i].CreatedAt = ch.Channel.UpdatedAt
		q, err := m.store.HandleEvent(ctx, &evs[i], false)
		if err != nil {
			m.log.Warn("syncmanager: channel state row not stored", "cid", cid, "error", err)
			continue
		}
		qs = append(qs, q...)
	}
	return qs
}
