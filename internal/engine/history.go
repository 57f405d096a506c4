package engine

import (
	"context"
	"fmt"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// fetchHistory extends the held history of the channels that need it,
// after a sync has brought them up to date: under HistoryFull every
// channel to its start, under HistoryRecent each to its n messages, and
// any channel the server reset down to what it held before (a re-check,
// so rows deleted meanwhile go). Each channel goes page by page, newest
// first; a channel whose state must be fetched again gets it, and is
// taken up again. It goes round while a round stores pages.
func (m *Manager) fetchHistory(ctx context.Context, fetched map[string]int) error {
	keep := m.opts.History.Keep()
	for {
		todo, err := m.store.HistoryToFetch(ctx, keep)
		if err != nil || len(todo) == 0 {
			return err
		}
		var need []string
		stored := false
		for _, h := range todo {
			res, n, err := m.fillHistory(ctx, h, keep)
			if err != nil {
				return err
			}
			stored = stored || n > 0
			if res.NeedState {
				need = append(need, h.CID)
			}
		}
		if len(need) > 0 {
			if err := m.fetchStates(ctx, need, fetched); err != nil {
				return err
			}
		} else if !stored {
			return nil
		}
	}
}

// historyFetch is a page of history fetched ahead of its apply.
type historyFetch struct {
	page *protocol.HistoryPage
	err  error
}

// fillHistory pages one channel's history down to what keep and its
// re-check ask for, or until a page cannot be stored, and returns the
// last page's result and the pages it stored. A fetcher runs one page
// ahead of the apply: each page's request is the one before moved on by
// that page's range, which needs nothing from the store. Under
// HistoryRecent (no re-check) it fetches one page, of what is missing.
func (m *Manager) fillHistory(ctx context.Context, h store.Held, keep int) (store.HistoryResult, int, error) {
	limit := protocol.HistoryPageMax
	one := keep >= 0 && h.Until == 0
	if one {
		limit = max(1, min(limit, keep-h.Messages))
	}
	fctx, cancel := context.WithCancel(ctx)
	pages := make(chan historyFetch, 1)
	go func() {
		defer close(pages)
		before := h.From
		for {
			page, err := m.conn.History(fctx, h.CID, protocol.HistoryRequest{
				Kind: protocol.HistoryMessages, Epoch: h.Epoch, Before: before, Limit: limit})
			select {
			case pages <- historyFetch{page, err}:
			case <-fctx.Done():
				return
			}
			if one || err != nil || page.Status != protocol.ChannelOK || page.Start() {
				return
			}
			before = page.From
		}
	}()
	defer func() {
		cancel()
		for range pages { // the fetcher must not outlive the fill
		}
	}()
	var res store.HistoryResult
	n := 0
	for f := range pages {
		if f.err != nil {
			return res, n, f.err
		}
		var err error
		if res, err = m.applyHistory(ctx, h.CID, f.page); err != nil || !res.Stored {
			return res, n, err
		}
		n++
		if res.Held.Complete() || res.Held.Until == 0 && keep >= 0 {
			return res, n, nil
		}
	}
	return res, n, ctx.Err()
}

// applyHistory stores a page of the channel cid's history and tells the
// listeners.
func (m *Manager) applyHistory(ctx context.Context, cid string, page *protocol.HistoryPage) (store.HistoryResult, error) {
	res, err := m.store.ApplyHistoryPage(ctx, cid, page)
	if err == nil && (res.Stored || res.Dropped) {
		m.noteHistory(cid, page)
	}
	return res, err
}

// noteHistory records a page of history stored (or a channel dropped).
func (m *Manager) noteHistory(cid string, page *protocol.HistoryPage) {
	m.noteChange(ChangeSync, func(s *changeSet) { s.History(cid, page) })
}

// LoadOlder fetches up to n messages of the channel cid older than those
// the store holds, stores them joined to the held ones, and returns the
// held history after them; Held.Complete says the start is reached.
// Offline, it returns the held history as it is and ErrOffline. A channel
// the store does not hold (or no longer may read) gives
// store.ErrNotFound; one the server reset is synced again first
// (the call returns the held history unchanged; call again after).
func (m *Manager) LoadOlder(ctx context.Context, cid string, n int) (store.Held, error) {
	h, err := m.store.HeldHistory(ctx, cid)
	if err != nil || h.Complete() {
		return h, err
	}
	if h.Epoch == "" {
		return h, nil // its state comes with the sync under way
	}
	if !m.conn.IsHealthy() {
		return h, ErrOffline
	}
	page, err := m.conn.History(ctx, cid, protocol.HistoryRequest{
		Kind: protocol.HistoryMessages, Epoch: h.Epoch, Before: h.From, Limit: min(max(n, 1), protocol.HistoryPageMax)})
	var res store.HistoryResult
	if err == nil {
		res, err = m.applyHistory(ctx, cid, page)
	}
	switch {
	case err != nil:
		return h, err
	case res.Dropped:
		return res.Held, fmt.Errorf("%w: channel %q", store.ErrNotFound, cid)
	case res.NeedState:
		m.mu.Lock()
		m.wantSync = true
		m.mu.Unlock()
		m.poke()
	}
	return res.Held, nil
}
