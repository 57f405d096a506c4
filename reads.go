package outpost

import (
	"context"
	"database/sql"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// The read methods below read the local store, so they work with no
// network; an OnChange listener says when to read again.

// Messages returns a page of a channel's messages in the channel's order
// (the server's; unsent messages last), oldest first: the latest q.Limit
// (zero means 50) before q.Before, or the first q.Limit after q.After. A
// cursor id the store does not hold gives offlinedb.ErrNotFound.
func (c *Client) Messages(ctx context.Context, cid string, q offlinedb.MessagesQuery) ([]offlinedb.Message, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.db.Messages(ctx, cid, q)
}

// Message returns one message, or offlinedb.ErrNotFound.
func (c *Client) Message(ctx context.Context, messageID string) (offlinedb.Message, error) {
	if err := c.check(); err != nil {
		return offlinedb.Message{}, err
	}
	return c.db.Message(ctx, messageID)
}

// Channels returns a page of the user's channels from the local store,
// most recent activity first: q.Limit of them (zero means 100), after
// q.After. next is the After of the following page, "" after the last
// page.
//
//	for q := (offlinedb.ChannelsQuery{}); ; {
//		chans, next, err := c.Channels(ctx, q)
//		...
//		if next == "" {
//			break
//		}
//		q.After = next
//	}
func (c *Client) Channels(ctx context.Context, q offlinedb.ChannelsQuery) (chans []offlinedb.Channel, next string, err error) {
	if err := c.check(); err != nil {
		return nil, "", err
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	// One more than asked says whether a page follows.
	want := q.Limit
	q.Limit++
	chans, err = c.db.Channels(ctx, q)
	if err != nil {
		return nil, "", err
	}
	if len(chans) > want {
		chans = chans[:want]
		next = chans[want-1].Cursor()
	}
	return chans, next, nil
}

// Channel returns one channel of the user's, or offlinedb.ErrNotFound.
func (c *Client) Channel(ctx context.Context, cid string) (offlinedb.Channel, error) {
	if err := c.check(); err != nil {
		return offlinedb.Channel{}, err
	}
	return c.db.Channel(ctx, cid)
}

// Members returns the members of the channel cid.
func (c *Client) Members(ctx context.Context, cid string) ([]protocol.Member, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.db.Members(ctx, cid)
}

// Reactions returns the reactions to a message, the user's pending ones
// included.
func (c *Client) Reactions(ctx context.Context, messageID string) ([]offlinedb.Reaction, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.db.Reactions(ctx, messageID)
}

// Reads returns the read marks of the channel cid's members.
func (c *Client) Reads(ctx context.Context, cid string) ([]protocol.Read, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.db.Reads(ctx, cid)
}

// UnreadCount returns how many messages of the channel cid the user has
// not read.
func (c *Client) UnreadCount(ctx context.Context, cid string) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	return c.db.UnreadCount(ctx, cid)
}

// User returns a user the store knows, or offlinedb.ErrNotFound.
func (c *Client) User(ctx context.Context, id string) (protocol.User, error) {
	if err := c.check(); err != nil {
		return protocol.User{}, err
	}
	return c.db.User(ctx, id)
}

// SQLDB returns the local store's database, for the app's own tables (made
// by Config.Store.Migrations). The store's own tables belong to the sync
// engine: read them through the methods above, never write them. The
// database is closed by Close.
func (c *Client) SQLDB() *sql.DB { return c.db.SQLDB() }
