package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/outpostsync/outpost/protocol"
)

// This file holds the REST calls. Each takes ctx first and returns the
// server's response body, or an error:
//
//   - *protocol.APIError for an error the server answered with (with
//     RetryAfter set from a 429 or 503's Retry-After);
//   - *TransportError when the server could not be reached or the exchange
//     broke off;
//   - *DecodeError when the response was not what the call expects;
//   - *protocol.ValidationError when the input is invalid, before anything
//     is sent;
//   - *TokenError when a new token was needed and the provider failed.
//
// Use IsTemporary, IsPermanent, NeedsReset and RetryAfter to decide what
// to do with an error. Writes whose entity has no client-made id of its own
// take WriteOptions; IdempotencyKey sets a client-made id for the write
// itself (see IdempotencyKey).

// SendMessage sends a message to the channel cid. req.Message.ID is
// required and made by the client; repeating a send that was applied
// returns the stored message, so it needs no idempotency key.
func (c *Client) SendMessage(ctx context.Context, cid string, req protocol.SendMessageRequest) (*protocol.MessageResponse, error) {
	if err := firstErr(protocol.ValidateCID(cid), protocol.ValidateID("message id", req.Message.ID)); err != nil {
		return nil, err
	}
	var out protocol.MessageResponse
	err := c.do(ctx, request{op: "send message", method: http.MethodPost,
		path: pathf(protocol.PathMessages, cid), body: req, repeatable: true,
		check: func() error { return answerFor("message", out.Message.ID, req.Message.ID) }}, &out)
	return result(&out, err)
}

// UpdateMessage replaces the text and extra of a message.
func (c *Client) UpdateMessage(ctx context.Context, messageID string, req protocol.UpdateMessageRequest, opts ...WriteOption) (*protocol.MessageResponse, error) {
	if err := protocol.ValidateID("message id", messageID); err != nil {
		return nil, err
	}
	var out protocol.MessageResponse
	err := c.do(ctx, request{op: "update message", method: http.MethodPut,
		path: pathf(protocol.PathMessage, messageID), body: req, idemKey: writeOpts(opts).idemKey,
		check: func() error { return answerFor("message", out.Message.ID, messageID) }}, &out)
	return result(&out, err)
}

// DeleteMessage deletes a message: softly (kept with DeletedAt set, and
// undeletable) unless req.Hard is set.
func (c *Client) DeleteMessage(ctx context.Context, messageID string, req protocol.DeleteMessageBody, opts ...WriteOption) (*protocol.MessageResponse, error) {
	if err := protocol.ValidateID("message id", messageID); err != nil {
		return nil, err
	}
	var q url.Values
	if req.Hard {
		q = url.Values{"hard": {"true"}}
	}
	var out protocol.MessageResponse
	err := c.do(ctx, request{op: "delete message", method: http.MethodDelete,
		path: pathf(protocol.PathMessage, messageID), query: q, idemKey: writeOpts(opts).idemKey,
		check: func() error { return answerFor("message", out.Message.ID, messageID) }}, &out)
	return result(&out, err)
}

// UndeleteMessage brings back a softly deleted message.
func (c *Client) UndeleteMessage(ctx context.Context, messageID string, opts ...WriteOption) (*protocol.MessageResponse, error) {
	if err := protocol.ValidateID("message id", messageID); err != nil {
		return nil, err
	}
	var out protocol.MessageResponse
	err := c.do(ctx, request{op: "undelete message", method: http.MethodPost,
		path: pathf(protocol.PathUndeleteMessage, messageID), idemKey: writeOpts(opts).idemKey,
		check: func() error { return answerFor("message", out.Message.ID, messageID) }}, &out)
	return result(&out, err)
}

// SendReaction adds the user's reaction of req.Type to a message, or
// replaces it.
func (c *Client) SendReaction(ctx context.Context, messageID string, req protocol.SendReactionRequest, opts ...WriteOption) (*protocol.ReactionResponse, error) {
	if err := firstErr(protocol.ValidateID("message id", messageID), protocol.ValidateID("reaction type", req.Type)); err != nil {
		return nil, err
	}
	var out protocol.ReactionResponse
	err := c.do(ctx, request{op: "send reaction", method: http.MethodPost,
		path: pathf(protocol.PathReactions, messageID), body: req, idemKey: writeOpts(opts).idemKey,
		check: func() error { return answerFor("reaction to message", out.Reaction.MessageID, messageID) }}, &out)
	return result(&out, err)
}

// DeleteReaction removes the user's reaction of type reactionType from a
// message.
func (c *Client) DeleteReaction(ctx context.Context, messageID, reactionType string, opts ...WriteOption) (*protocol.ReactionResponse, error) {
	if err := firstErr(protocol.ValidateID("message id", messageID), protocol.ValidateID("reaction type", reactionType)); err != nil {
		return nil, err
	}
	var out protocol.ReactionResponse
	err := c.do(ctx, request{op: "delete reaction", method: http.MethodDelete,
		path: pathf(protocol.PathReaction, messageID, reactionType), idemKey: writeOpts(opts).idemKey,
		check: func() error { return answerFor("reaction to message", out.Reaction.MessageID, messageID) }}, &out)
	return result(&out, err)
}

// MarkRead marks the channel cid read up to req.MessageID (the latest
// message when empty).
func (c *Client) MarkRead(ctx context.Context, cid string, req protocol.MarkReadRequest, opts ...WriteOption) (*protocol.ReadResponse, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	var out protocol.ReadResponse
	err := c.do(ctx, request{op: "mark read", method: http.MethodPost,
		path: pathf(protocol.PathRead, cid), body: req, idemKey: writeOpts(opts).idemKey,
		check: func() error { return answerFor("read of channel", out.Read.CID, cid) }}, &out)
	return result(&out, err)
}

// MarkUnread marks the channel cid unread from req.MessageID on.
func (c *Client) MarkUnread(ctx context.Context, cid string, req protocol.MarkUnreadRequest, opts ...WriteOption) (*protocol.ReadResponse, error) {
	if err := firstErr(protocol.ValidateCID(cid), protocol.ValidateID("message id", req.MessageID)); err != nil {
		return nil, err
	}
	var out protocol.ReadResponse
	err := c.do(ctx, request{op: "mark unread", method: http.MethodPost,
		path: pathf(protocol.PathUnread, cid), body: req, idemKey: writeOpts(opts).idemKey,
		check: func() error { return answerFor("read of channel", out.Read.CID, cid) }}, &out)
	return result(&out, err)
}

// QueryChannels lists the user's channels, most recent activity first.
func (c *Client) QueryChannels(ctx context.Context, req protocol.QueryChannelsRequest) (*protocol.QueryChannelsResponse, error) {
	var out protocol.QueryChannelsResponse
	err := c.do(ctx, request{op: "query channels", method: http.MethodPost,
		path: protocol.PathQueryChannels, body: req}, &out)
	return result(&out, err)
}

// GetChannel returns the channel cid with its members, latest messages and
// reads.
func (c *Client) GetChannel(ctx context.Context, cid string) (*protocol.ChannelResponse, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	var out protocol.ChannelResponse
	err := c.do(ctx, request{op: "get channel", method: http.MethodGet,
		path: pathf(protocol.PathChannel, cid)}, &out)
	return result(&out, err)
}

// CreateChannel creates a channel, or returns it if it exists and the user
// is a member; so a repeat is harmless and needs no idempotency key.
func (c *Client) CreateChannel(ctx context.Context, req protocol.CreateChannelRequest) (*protocol.ChannelResponse, error) {
	if err := firstErr(protocol.ValidateID("channel type", req.Type), protocol.ValidateID("channel id", req.ID)); err != nil {
		return nil, err
	}
	var out protocol.ChannelResponse
	err := c.do(ctx, request{op: "create channel", method: http.MethodPost,
		path: protocol.PathChannels, body: req}, &out)
	return result(&out, err)
}

// AddMembers adds users to the channel cid.
func (c *Client) AddMembers(ctx context.Context, cid string, userIDs []string, opts ...WriteOption) (*protocol.MembersResponse, error) {
	errs := []error{protocol.ValidateCID(cid)}
	for _, id := range userIDs {
		errs = append(errs, protocol.ValidateID("user id", id))
	}
	if err := firstErr(errs...); err != nil {
		return nil, err
	}
	var out protocol.MembersResponse
	err := c.do(ctx, request{op: "add members", method: http.MethodPost,
		path: pathf(protocol.PathMembers, cid), body: protocol.AddMembersRequest{UserIDs: userIDs}, idemKey: writeOpts(opts).idemKey}, &out)
	return result(&out, err)
}

// RemoveMember removes a user from the channel cid.
func (c *Client) RemoveMember(ctx context.Context, cid, userID string, opts ...WriteOption) (*protocol.MembersResponse, error) {
	if err := firstErr(protocol.ValidateCID(cid), protocol.ValidateID("user id", userID)); err != nil {
		return nil, err
	}
	var out protocol.MembersResponse
	err := c.do(ctx, request{op: "remove member", method: http.MethodDelete,
		path: pathf(protocol.PathMember, cid, userID), idemKey: writeOpts(opts).idemKey}, &out)
	return result(&out, err)
}

// MessagesQuery selects a page of a channel's messages for QueryMessages.
// The zero value asks for the latest page of the server's default size.
type MessagesQuery struct {
	// Limit caps the messages returned; zero means the server's default.
	Limit int
	// Before, if set, asks for messages older than this message id.
	Before string
	// After, if set, asks for messages newer than this message id.
	After string
}

// QueryMessages returns a page of the channel cid's messages, oldest first.
func (c *Client) QueryMessages(ctx context.Context, cid string, q MessagesQuery) (*protocol.MessagesResponse, error) {
	errs := []error{protocol.ValidateCID(cid)}
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before != "" {
		errs = append(errs, protocol.ValidateID("before", q.Before))
		v.Set("before", q.Before)
	}
	if q.After != "" {
		errs = append(errs, protocol.ValidateID("after", q.After))
		v.Set("after", q.After)
	}
	if err := firstErr(errs...); err != nil {
		return nil, err
	}
	var out protocol.MessagesResponse
	err := c.do(ctx, request{op: "query messages", method: http.MethodGet,
		path: pathf(protocol.PathMessages, cid), query: v}, &out)
	return result(&out, err)
}

// History returns a page of the channel cid's current rows of one kind,
// newest first from req.Before (see protocol.HistoryPage).
func (c *Client) History(ctx context.Context, cid string, req protocol.HistoryRequest) (*protocol.HistoryPage, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	v := url.Values{}
	v.Set("kind", req.Kind)
	if req.Epoch != "" {
		v.Set("epoch", req.Epoch)
	}
	if req.Before > 0 {
		v.Set("before", strconv.FormatInt(req.Before, 10))
	}
	if req.Limit > 0 {
		v.Set("limit", strconv.Itoa(req.Limit))
	}
	var out protocol.HistoryPage
	err := c.do(ctx, request{op: "history", method: http.MethodGet,
		path: pathf(protocol.PathHistory, cid), query: v}, &out)
	return result(&out, err)
}

// SendEvent sends an ephemeral event (typing.start, typing.stop) to the
// channel cid's connected members. It is not stored and not retried.
func (c *Client) SendEvent(ctx context.Context, cid string, t protocol.EventType) (*protocol.EventResponse, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	if !t.IsEphemeral() || t == protocol.EventHealthCheck || t == EventConnectionChanged || t == EventConnectionRecovered {
		return nil, &protocol.ValidationError{Field: "event type", Reason: "is " + strconv.Quote(string(t)) + ", want typing.start or typing.stop"}
	}
	var out protocol.EventResponse
	err := c.do(ctx, request{op: "send event", method: http.MethodPost,
		path: pathf(protocol.PathChannelEvents, cid), body: protocol.SendEventRequest{Type: t}}, &out)
	return result(&out, err)
}

// Sync fetches one page of what follows the client's positions: its
// membership feed and each listed channel (see protocol.SyncRequest). Call
// it again with the positions the page reaches while More is set. Every
// event of the page is checked as protocol.DecodeEvent does; an invalid one
// (malformed, or lacking an id or time) is dropped and logged, and the rest
// of the page is returned, so one bad event cannot stall a sync forever. A
// response that is not a sync page at all fails with a *DecodeError. An
// error for which NeedsReset is true means the whole cache must be reset; a
// loss in one channel comes back as that channel's protocol.ChannelReset.
func (c *Client) Sync(ctx context.Context, req protocol.SyncRequest) (*protocol.SyncResponse, error) {
	errs := []error{}
	for _, p := range req.Channels {
		errs = append(errs, protocol.ValidateCID(p.CID))
	}
	if err := firstErr(errs...); err != nil {
		return nil, err
	}
	if req.Channels == nil {
		req.Channels = []protocol.ChannelPosition{} // the server wants a list, not null
	}
	req.Version = protocol.Version
	var page *protocol.SyncResponse
	var dropped []*protocol.DroppedEvent
	decode := func(data []byte) (err error) {
		page, dropped, err = protocol.DecodeSyncPage(data)
		return err
	}
	if err := c.do(ctx, request{op: "sync", method: http.MethodPost, path: protocol.PathSync, body: req, decode: decode}, nil); err != nil {
		return nil, err
	}
	for _, d := range dropped {
		c.log.Warn("outpost client: dropped an invalid event from a sync page", "err", d)
		c.emitError(ErrorEvent{Err: d})
	}
	return page, nil
}

// result returns out, or nil and err.
func result[T any](out *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}
