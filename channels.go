package outpost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

// The channel administration methods below (create a channel, add and
// remove members, leave, hide, show, update) need the network: each calls
// the server at once and is not queued in the outbox. When the server
// cannot be reached they fail with an error that matches ErrNeedsNetwork
// (errors.Is) and wraps the cause (a *client.TransportError, or the
// context's deadline), and nothing is changed. A refusal by the server is
// a *protocol.APIError: protocol.CodeNotAllowed (403) for a caller who is
// not a member or whose role does not allow it, protocol.CodeNotFound
// (404) for a channel or member that does not exist, protocol.CodeInput
// (400) for bad input.
//
// On success the resulting state is in the local store when the method
// returns, so Channels lists the change without waiting for the next
// sync; the other members' devices learn of it live or on their next
// sync. Each write carries an idempotency key, so the client's own retry
// of it is applied once.

// ErrNeedsNetwork is matched by the error of a channel administration
// method that could not reach the server. Such a method can be called
// again once the client is online.
var ErrNeedsNetwork = errors.New("outpost: needs the network")

// DefaultChannelType is the channel type CreateChannel uses when
// NewChannel.Type is empty.
const DefaultChannelType = "messaging"

// NewChannel describes a channel for CreateChannel.
type NewChannel struct {
	// Type is the channel's type; empty means DefaultChannelType.
	Type string
	// ID is the channel's id within its type; empty means a new random
	// id.
	ID string
	// Name is the channel's display name; it may be empty.
	Name string
	// Extra is the app's own JSON object kept with the channel; nil for
	// none.
	Extra json.RawMessage
	// Members are the users added besides the caller, who becomes the
	// channel's owner.
	Members []string
}

// CreateChannel creates a channel with the caller as its owner and
// spec.Members as members, and returns its cid ("type:id"). Creating a
// channel that exists and that the caller is a member of returns its cid
// and changes nothing; one that exists without the caller is refused
// (protocol.CodeNotAllowed). It needs the network (see ErrNeedsNetwork):
// offline, no channel is made.
func (c *Client) CreateChannel(ctx context.Context, spec NewChannel) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	req := protocol.CreateChannelRequest{Type: spec.Type, ID: spec.ID, Name: spec.Name, Members: spec.Members, Extra: spec.Extra}
	if req.Type == "" {
		req.Type = DefaultChannelType
	}
	if req.ID == "" {
		req.ID = randomID()
	}
	resp, err := c.conn.CreateChannel(ctx, req)
	if err != nil {
		return "", adminErr("create channel", err)
	}
	return resp.Channel.CID, c.applyState(ctx, resp)
}

// AddMembers adds users to the channel cid. The caller must be its owner
// or a moderator. Adding a member changes nothing. It needs the network
// (see ErrNeedsNetwork).
func (c *Client) AddMembers(ctx context.Context, cid string, userIDs ...string) error {
	if err := c.check(); err != nil {
		return err
	}
	if _, err := c.conn.AddMembers(ctx, cid, userIDs, client.IdempotencyKey(randomID())); err != nil {
		return adminErr("add members", err)
	}
	return c.refresh(ctx, cid)
}

// RemoveMembers removes users from the channel cid, one after the other:
// a failure leaves the users before it removed. The caller must be the
// owner, or a moderator removing members; nobody removes the owner. It
// needs the network (see ErrNeedsNetwork). To remove oneself, use
// LeaveChannel.
func (c *Client) RemoveMembers(ctx context.Context, cid string, userIDs ...string) error {
	if err := c.check(); err != nil {
		return err
	}
	for _, id := range userIDs {
		if _, err := c.conn.RemoveMember(ctx, cid, id, client.IdempotencyKey(randomID())); err != nil {
			return adminErr("remove member "+id, err)
		}
	}
	return c.refresh(ctx, cid)
}

// LeaveChannel removes the caller from the channel cid, which leaves the
// local store at once with its cached messages (unsent writes to it stay
// in the outbox, where the server will refuse them). The owner cannot
// leave: they hand the channel on first (Conn.SetRole with
// protocol.RoleOwner) or delete it. It needs the network (see
// ErrNeedsNetwork).
func (c *Client) LeaveChannel(ctx context.Context, cid string) error {
	if err := c.check(); err != nil {
		return err
	}
	if _, err := c.conn.RemoveMember(ctx, cid, c.userID, client.IdempotencyKey(randomID())); err != nil {
		return adminErr("leave channel", err)
	}
	if err := c.db.ApplyChannelStates(ctx, nil, []string{cid}); err != nil {
		return fmt.Errorf("outpost: leave channel: left on the server; local store: %w", err)
	}
	return nil
}

// HideChannel hides the channel cid from the caller's channel list on
// all their devices: Channels leaves it out (DB.Channels lists it with
// offlinedb.ChannelsQuery.IncludeHidden) and it keeps syncing. It stays
// hidden until ShowChannel, new messages included. Other members see
// nothing. Any member may. It needs the network (see ErrNeedsNetwork).
func (c *Client) HideChannel(ctx context.Context, cid string) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.setHidden(ctx, cid, true)
}

// ShowChannel shows a channel hidden with HideChannel again, on all the
// caller's devices. It needs the network (see ErrNeedsNetwork).
func (c *Client) ShowChannel(ctx context.Context, cid string) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.setHidden(ctx, cid, false)
}

func (c *Client) setHidden(ctx context.Context, cid string, hidden bool) error {
	op, call := "show channel", c.conn.ShowChannel
	if hidden {
		op, call = "hide channel", c.conn.HideChannel
	}
	resp, err := call(ctx, cid, client.IdempotencyKey(randomID()))
	if err != nil {
		return adminErr(op, err)
	}
	if err := c.applyState(ctx, resp); err != nil {
		return err
	}
	if err := c.db.SetChannelHidden(ctx, cid, hidden); err != nil {
		return fmt.Errorf("outpost: %s: done on the server; local store: %w", op, err)
	}
	return nil
}

// ChannelUpdate is the new data of a channel for UpdateChannel.
type ChannelUpdate struct {
	// Name replaces the channel's name; empty clears it.
	Name string
	// Extra, if not nil, replaces the channel's extra JSON object.
	Extra json.RawMessage
}

// UpdateChannel replaces the channel's name and, if u.Extra is set, its
// extra data. The caller must be its owner or a moderator. It needs the
// network (see ErrNeedsNetwork).
func (c *Client) UpdateChannel(ctx context.Context, cid string, u ChannelUpdate) error {
	if err := c.check(); err != nil {
		return err
	}
	resp, err := c.conn.UpdateChannel(ctx, cid, protocol.UpdateChannelRequest{Name: u.Name, Extra: u.Extra}, client.IdempotencyKey(randomID()))
	if err != nil {
		return adminErr("update channel", err)
	}
	return c.applyState(ctx, resp)
}

// refresh reads the channel's state from the server and applies it.
func (c *Client) refresh(ctx context.Context, cid string) error {
	resp, err := c.conn.GetChannel(ctx, cid)
	if err != nil {
		// The change is made; the next sync brings it.
		return nil
	}
	return c.applyState(ctx, resp)
}

// applyState stores a channel state the server answered with, so the
// change is listed at once, then syncs when online, so the feed events
// the change made are applied before the method returns rather than
// racing with it. A sync that fails is left to the sync manager's retries:
// the change is made.
func (c *Client) applyState(ctx context.Context, resp *protocol.ChannelResponse) error {
	if resp.Position != nil {
		if err := c.db.ApplyChannelStates(ctx, []protocol.ChannelResponse{*resp}, nil); err != nil {
			return fmt.Errorf("outpost: done on the server; local store: %w", err)
		}
	}
	_ = c.mgr.SyncNow(ctx)
	return nil
}

// adminErr wraps err, from a channel administration call named op, with
// ErrNeedsNetwork when the server could not be reached.
func adminErr(op string, err error) error {
	var te *client.TransportError
	var ne net.Error
	if errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return fmt.Errorf("outpost: %s: %w: %w", op, ErrNeedsNetwork, err)
	}
	return fmt.Errorf("outpost: %s: %w", op, err)
}

// randomID returns a new random id: for a channel, or an idempotency key.
func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
