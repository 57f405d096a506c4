package syncmanager

import (
	"context"
	"fmt"
	"strconv"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// HistoryPolicy says how much of each channel's message history the
// manager keeps on the device by itself. Whatever it keeps, LoadOlder
// fetches older messages on demand, and nothing cuts back what is held.
type HistoryPolicy struct {
	recent int // 0: the whole history
}

// HistoryFull keeps each channel's whole message history: a channel new
// to the store (first sync, join, reset) gets its state (the newest
// messages, readable at once), then its older history page by page,
// newest first, with flat memory. The default: a desktop app's disk holds
// years of chat for a few hundred MB (a message is about half a KB), and
// offline every message the user may read is then on the device.
var HistoryFull = HistoryPolicy{}

// HistoryRecent keeps at least the latest n messages of each channel
// (n below 1 means 1); older ones come with LoadOlder. For an app whose
// disk is tight, or whose channels are huge and mostly unread.
func HistoryRecent(n int) HistoryPolicy { return HistoryPolicy{recent: max(n, 1)} }

func (p HistoryPolicy) String() string {
	if p.recent == 0 {
		return "full"
	}
	return "recent(" + strconv.Itoa(p.recent) + ")"
}

// keep is the number of messages a channel should hold: -1 for all.
func (p HistoryPolicy) keep() int {
	if p.recent == 0 {
		return -1
	}
	return p.recent
}

// fetchHistory extends the held history of the channels that need it,
// after a sync has brought them up to date: under HistoryFull every
// channel to its start, under HistoryRecent each to its n messages, and
// any channel the server reset down to what it held before (a re-check,
// so rows deleted meanwhile go). Each channel goes page by page, newest
// first; a channel whose state must be fetched again gets it, and is
// taken up again.
func (m *Manager) fetchHistory(ctx context.Context, fetched map[string]int) error {
	keep := m.opts.History.keep()
	for {
		todo, err := m.store.HistoryToFetch(ctx, keep)
		if err != nil || len(todo) == 0 {
			return err
		}
		var need []string
		for _, h := range todo {
			res, err := m.fillHistory(ctx, h, keep)
			if err != nil {
				return err
			}
			if res.NeedState {
				need = append(need, h.CID)
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

// fillHistory pages one channel's history down to what keep and its
// re-check ask for, or until a page cannot be stored.
func (m *Manager) fillHistory(ctx context.Context, h offlinedb.Held, keep int) (offlinedb.HistoryResult, error) {
	for {
		limit := protocol.HistoryPageMax
		if keep >= 0 && h.Until == 0 {
			limit = min(limit, keep-h.Messages)
		}
		res, err := m.historyPage(ctx, h, limit)
		if err != nil || !res.Stored {
			return res, err
		}
		h = res.Held
		switch {
		case h.Complete():
			return res, nil
		case h.Until > 0:
			// A re-check goes on to its end.
		case keep < 0:
		case h.Messages >= keep:
			return res, nil
		}
	}
}

// historyPage fetches and stores the page of up to limit messages just
// older than the held range h.
func (m *Manager) historyPage(ctx context.Context, h offlinedb.Held, limit int) (offlinedb.HistoryResult, error) {
	page, err := m.conn.History(ctx, h.CID, protocol.HistoryRequest{
		Kind: protocol.HistoryMessages, Epoch: h.Epoch, Before: h.From, Limit: max(limit, 1)})
	if err != nil {
		return offlinedb.HistoryResult{}, err
	}
	res, err := m.store.ApplyHistoryPage(ctx, h.CID, page)
	if err != nil {
		return res, err
	}
	if res.Stored || res.Dropped {
		m.noteHistory(h.CID, page)
	}
	return res, nil
}

// noteHistory records a page of history stored (or a channel dropped).
func (m *Manager) noteHistory(cid string, page *protocol.HistoryPage) {
	m.noteChange(ChangeSync, func(s *changeSet) {
		s.channel(cid)
		for i := range page.Messages {
			s.message(page.Messages[i].ID)
		}
	})
}

// LoadOlder fetches up to n messages of the channel cid older than those
// the store holds, stores them joined to the held ones, and returns the
// held history after them; Held.Complete says the start is reached.
// Offline, it returns the held history as it is and ErrOffline. A channel
// the store does not hold (or no longer may read) gives
// offlinedb.ErrNotFound; one the server reset is synced again first
// (the call returns the held history unchanged; call again after).
func (m *Manager) LoadOlder(ctx context.Context, cid string, n int) (offlinedb.Held, error) {
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
	res, err := m.historyPage(ctx, h, min(max(n, 1), protocol.HistoryPageMax))
	switch {
	case err != nil:
		return h, err
	case res.Dropped:
		return res.Held, fmt.Errorf("%w: channel %q", offlinedb.ErrNotFound, cid)
	case res.NeedState:
		m.mu.Lock()
		m.wantSync = true
		m.mu.Unlock()
		m.poke()
	}
	return res.Held, nil
}
