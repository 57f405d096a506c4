package protocol

import (
	"encoding/json"
	"time"
)

// Paths of the server's HTTP API, relative to its base URL. Segments in
// braces are path parameters. docs/PROTOCOL.md describes each one.
const (
	PathHealthz         = "/healthz"
	PathConnect         = "/connect"                          // GET, WebSocket upgrade
	PathSync            = "/sync"                             // POST SyncRequest -> SyncResponse
	PathChannels        = "/channels"                         // POST CreateChannelRequest -> ChannelResponse
	PathQueryChannels   = "/channels/query"                   // POST QueryChannelsRequest -> QueryChannelsResponse
	PathChannel         = "/channels/{cid}"                   // GET -> ChannelResponse
	PathMembers         = "/channels/{cid}/members"           // POST AddMembersRequest -> MembersResponse
	PathMember          = "/channels/{cid}/members/{user_id}" // DELETE -> MembersResponse
	PathMessages        = "/channels/{cid}/messages"          // POST SendMessageRequest -> MessageResponse; GET (paging) -> MessagesResponse
	PathRead            = "/channels/{cid}/read"              // POST MarkReadRequest -> ReadResponse
	PathUnread          = "/channels/{cid}/unread"            // POST MarkUnreadRequest -> ReadResponse
	PathChannelEvents   = "/channels/{cid}/events"            // POST SendEventRequest (ephemeral only) -> EventResponse
	PathMessage         = "/messages/{id}"                    // PUT UpdateMessageRequest -> MessageResponse; DELETE (?hard=true) -> MessageResponse
	PathReactions       = "/messages/{id}/reactions"          // POST SendReactionRequest -> ReactionResponse
	PathReaction        = "/messages/{id}/reactions/{type}"   // DELETE -> ReactionResponse
	PathUndeleteMessage = "/messages/{id}/undelete"           // POST -> MessageResponse
	PathBatch           = "/batch"                            // POST BatchRequest -> BatchResponse
	PathMe              = "/users/me"                         // PUT UpdateUserRequest -> UserResponse
	PathSession         = "/session"                          // POST (token in Authorization) -> SessionResponse, sets the cookie GET /events takes; DELETE clears it
	PathEvents          = "/events"                           // GET, the Server-Sent Events stream of the user's channels
	// PathRecords pages a channel's live records (GET, ?after=collection/id&limit=) -> RecordsResponse.
	PathRecords = "/channels/{cid}/records"
	// PathRecord is one record: POST CreateRecordRequest, PUT
	// ReplaceRecordRequest, PATCH PatchRecordRequest, DELETE
	// (?if_version=N), GET -> RecordResponse.
	PathRecord = "/channels/{cid}/records/{collection}/{id}"
)

// HTTP headers with a meaning in the protocol.
const (
	// HeaderAuthorization carries "Bearer <token>" on every request but
	// /healthz. The WebSocket (GET /connect) also accepts the token as the
	// "token" query parameter, for clients that cannot set headers; every
	// other endpoint refuses a token in the URL.
	HeaderAuthorization = "Authorization"

	// HeaderIdempotencyKey carries a client-made id on writes that have no
	// client-made id of their own (update, delete, reactions, reads). The
	// server applies a write once per (user, key); a repeat answers with
	// the stored result.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// CreateChannelRequest creates a channel, or returns it if it exists and the
// caller is a member.
type CreateChannelRequest struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Name    string          `json:"name,omitempty"`
	Members []string        `json:"members,omitempty"`
	Extra   json.RawMessage `json:"extra,omitempty"`
}

// ChannelResponse is a channel with its state.
type ChannelResponse struct {
	Channel  Channel   `json:"channel"`
	Members  []Member  `json:"members"`
	Messages []Message `json:"messages"`
	Reads    []Read    `json:"reads"`
	// Reactions are the reactions to Messages.
	Reactions []Reaction `json:"reactions,omitempty"`
	// Position is the channel's log position at the snapshot the state
	// was read in: a client that stores this state syncs the channel from
	// it, and gets every change after it and none before.
	Position *Position `json:"position,omitempty"`
	// MessagesFrom is the lowest seq Messages cover: every message with a
	// seq from it up to Position is in Messages, as a HistoryPage's From.
	// 1 when they reach the start of the channel's history; 0 when not
	// said (the oldest message's seq is then the safe bound).
	MessagesFrom int64 `json:"messages_from,omitempty"`
}

// QueryChannelsRequest lists the caller's channels, most recent activity
// first.
type QueryChannelsRequest struct {
	// CIDs, when set, asks for exactly these channels (at most
	// MaxQueryCIDs), in CID order; Limit and Offset are ignored. The ones
	// the caller may not read are listed in the response's Inaccessible.
	CIDs []string `json:"cids,omitempty"`
	// Limit caps the channels returned; zero means the server's default.
	Limit int `json:"limit,omitempty"`
	// Offset skips that many channels.
	Offset int `json:"offset,omitempty"`
	// MessageLimit caps the latest messages returned per channel; zero
	// means the server's default.
	MessageLimit int `json:"message_limit,omitempty"`
}

// QueryChannelsResponse holds the caller's channels.
type QueryChannelsResponse struct {
	Channels []ChannelResponse `json:"channels"`
	// Inaccessible lists the requested CIDs the caller may not read, or
	// that do not exist (only with QueryChannelsRequest.CIDs).
	Inaccessible []string `json:"inaccessible,omitempty"`
	// SyncedAt is the server time the state was read at, for display.
	// Each channel's Position, not this time, is where its sync resumes.
	SyncedAt time.Time `json:"synced_at"`
}

// AddMembersRequest adds users to a channel.
type AddMembersRequest struct {
	UserIDs []string `json:"user_ids"`
}

// MembersResponse holds a channel's members after a change.
type MembersResponse struct {
	Channel Channel  `json:"channel"`
	Members []Member `json:"members"`
}

// SendMessageRequest sends a message. Message.ID is required and made by the
// client; a repeat of an applied send returns the stored message.
type SendMessageRequest struct {
	Message MessageInput `json:"message"`
}

// MessageInput is the part of a message a client sets.
type MessageInput struct {
	ID       string          `json:"id"`
	Text     string          `json:"text"`
	ParentID string          `json:"parent_id,omitempty"`
	Extra    json.RawMessage `json:"extra,omitempty"`
}

// UpdateMessageRequest replaces a message's text and extra.
type UpdateMessageRequest struct {
	Text  string          `json:"text"`
	Extra json.RawMessage `json:"extra,omitempty"`
}

// MessageResponse holds one message.
type MessageResponse struct {
	Message Message `json:"message"`
}

// MessagesResponse holds a page of a channel's messages, oldest first.
type MessagesResponse struct {
	Messages []Message `json:"messages"`
}

// SendReactionRequest adds or replaces the caller's reaction of a type.
type SendReactionRequest struct {
	Type  string          `json:"type"`
	Score int             `json:"score,omitempty"`
	Extra json.RawMessage `json:"extra,omitempty"`
}

// ReactionResponse holds a reaction and the message it is on.
type ReactionResponse struct {
	Message  Message  `json:"message"`
	Reaction Reaction `json:"reaction"`
}

// MarkReadRequest marks a channel read up to a message (the latest when
// MessageID is empty).
type MarkReadRequest struct {
	MessageID string `json:"message_id,omitempty"`
}

// MarkUnreadRequest marks a channel unread from a message on.
type MarkUnreadRequest struct {
	MessageID string `json:"message_id"`
}

// ReadResponse holds the caller's read state of a channel.
type ReadResponse struct {
	Read Read `json:"read"`
}

// SendEventRequest sends an ephemeral event (typing.start, typing.stop) to a
// channel's connected members.
type SendEventRequest struct {
	Type EventType `json:"type"`
}

// EventResponse holds the event the server made of a request.
type EventResponse struct {
	Event Event `json:"event"`
}

// UpdateUserRequest changes the caller's profile (PUT /users/me).
type UpdateUserRequest struct {
	Name  string          `json:"name,omitempty"`
	Image string          `json:"image,omitempty"`
	Extra json.RawMessage `json:"extra,omitempty"`
}

// UserResponse holds a user.
type UserResponse struct {
	User User `json:"user"`
}

// SessionResponse answers POST /session.
type SessionResponse struct {
	UserID    string     `json:"user_id"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}
