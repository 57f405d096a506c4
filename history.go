package outpost

import (
	"context"
	"errors"
	"fmt"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/syncmanager"
)

// LoadOlder fetches up to n messages of the channel cid older than the
// oldest the store holds, stores them joined to the rest (no hole is ever
// left), and returns them, oldest first. At the start of the channel's
// history it returns none (Channel.HistoryComplete is then set). Offline,
// or when the server cannot be reached, it returns the oldest n messages
// held and an error matching ErrNeedsNetwork. Calling it again and again
// reaches the start of the history.
func (c *Client) LoadOlder(ctx context.Context, cid string, n int) ([]offlinedb.Message, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if n <= 0 {
		n = 50
	}
	oldest, err := c.db.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: 1, Oldest: true, IncludeDeleted: true})
	if err != nil {
		return nil, err
	}
	_, err = c.mgr.LoadOlder(ctx, cid, n)
	if err != nil {
		held, _ := c.db.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: n, Oldest: true})
		if errors.Is(err, syncmanager.ErrOffline) {
			return held, fmt.Errorf("outpost: load older: %w", ErrNeedsNetwork)
		}
		return held, adminErr("load older", err)
	}
	if len(oldest) == 0 {
		return c.db.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: n, Oldest: true})
	}
	msgs, err := c.db.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: n, Before: oldest[0].ID})
	if errors.Is(err, offlinedb.ErrNotFound) {
		// The oldest message was deleted meanwhile: the first ones.
		return c.db.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: n, Oldest: true})
	}
	return msgs, err
}

// HeldHistory returns the part of the channel cid's history the store
// holds (offlinedb.Held), read from the local store; Held.Complete says
// it reaches the start. offlinedb.ErrNotFound if the store does not hold
// the channel.
func (c *Client) HeldHistory(ctx context.Context, cid string) (offlinedb.Held, error) {
	if err := c.check(); err != nil {
		return offlinedb.Held{}, err
	}
	return c.db.HeldHistory(ctx, cid)
}
