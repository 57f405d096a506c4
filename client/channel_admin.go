package client

import (
	"context"
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

// The channel administration calls. What each role may do is in
// docs/PROTOCOL.md (Roles); a refusal is a permanent *protocol.APIError
// with code protocol.CodeNotAllowed.

// SetRole sets a member's role in the channel cid: protocol.RoleModerator
// or protocol.RoleMember, or protocol.RoleOwner to hand the channel on (the
// caller, its owner, becomes a moderator).
func (c *Client) SetRole(ctx context.Context, cid, userID, role string, opts ...WriteOption) (*protocol.MembersResponse, error) {
	if err := firstErr(protocol.ValidateCID(cid), protocol.ValidateID("user id", userID)); err != nil {
		return nil, err
	}
	var out protocol.MembersResponse
	err := c.do(ctx, request{op: "set role", method: http.MethodPut,
		path: pathf(protocol.PathMemberRole, cid, userID), body: protocol.SetRoleRequest{Role: role}, idemKey: writeOpts(opts).idemKey}, &out)
	return result(&out, err)
}

// UpdateChannel replaces the channel's name and, if req.Extra is set, its
// extra.
func (c *Client) UpdateChannel(ctx context.Context, cid string, req protocol.UpdateChannelRequest, opts ...WriteOption) (*protocol.ChannelResponse, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	var out protocol.ChannelResponse
	err := c.do(ctx, request{op: "update channel", method: http.MethodPut,
		path: pathf(protocol.PathChannel, cid), body: req, idemKey: writeOpts(opts).idemKey}, &out)
	return result(&out, err)
}

// DeleteChannel deletes the channel for every member; its id cannot be
// used again.
func (c *Client) DeleteChannel(ctx context.Context, cid string, opts ...WriteOption) (*protocol.ChannelResponse, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	var out protocol.ChannelResponse
	err := c.do(ctx, request{op: "delete channel", method: http.MethodDelete,
		path: pathf(protocol.PathChannel, cid), idemKey: writeOpts(opts).idemKey}, &out)
	return result(&out, err)
}

// TruncateChannel removes every message of the channel sent so far.
func (c *Client) TruncateChannel(ctx context.Context, cid string, opts ...WriteOption) (*protocol.ChannelResponse, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	var out protocol.ChannelResponse
	err := c.do(ctx, request{op: "truncate channel", method: http.MethodPost,
		path: pathf(protocol.PathTruncate, cid), idemKey: writeOpts(opts).idemKey}, &out)
	return result(&out, err)
}

// HideChannel hides the channel cid from the caller's own channel list,
// on all their devices (protocol.PathHideChannel); the other members see
// nothing. The answer's Channel.Hidden is set. Hiding a hidden channel
// changes nothing.
func (c *Client) HideChannel(ctx context.Context, cid string, opts ...WriteOption) (*protocol.ChannelResponse, error) {
	return c.setHidden(ctx, "hide channel", protocol.PathHideChannel, cid, opts...)
}

// ShowChannel shows a channel the caller hid again
// (protocol.PathShowChannel).
func (c *Client) ShowChannel(ctx context.Context, cid string, opts ...WriteOption) (*protocol.ChannelResponse, error) {
	return c.setHidden(ctx, "show channel", protocol.PathShowChannel, cid, opts...)
}

func (c *Client) setHidden(ctx context.Context, op, path, cid string, opts ...WriteOption) (*protocol.ChannelResponse, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	var out protocol.ChannelResponse
	err := c.do(ctx, request{op: op, method: http.MethodPost,
		path: pathf(path, cid), idemKey: writeOpts(opts).idemKey}, &out)
	return result(&out, err)
}
