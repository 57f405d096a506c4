package protocol

import "time"

// Version is the sync protocol version this package speaks. A client sends
// it in SyncRequest.Version and in the HeaderProtocol header; a server
// answers a version it does not speak with CodeProtocolVersion.
const Version = 2

// HeaderProtocol carries the client's protocol version on every request.
// A request without it is taken to speak Version (tools such as curl); a
// request with another version is refused with CodeProtocolVersion.
const HeaderProtocol = "Outpost-Protocol"

// Limits of a sync request.
const (
	// MaxSyncChannels is the most channel positions one SyncRequest may
	// carry. A client with more sends them over several requests.
	MaxSyncChannels = 20000
	// MaxQueryCIDs is the most CIDs one QueryChannelsRequest may name.
	MaxQueryCIDs = 100
)

// Position is a place in one log: a channel's event log, or a user's
// membership feed.
//
// Epoch names the log's history: it is set when the log begins and
// changes when its history is lost (the channel is re-created, its log is
// cut), so a position of another epoch cannot be continued. Seq numbers
// the log's events from 1 with no gaps, in commit order; 0 is the start.
// EventID is the ID of the event at Seq ("" at Seq 0): the server checks
// it, so a log rewritten under the same epoch (a server restored from an
// older copy that then wrote new events) is told apart from the one the
// client followed.
type Position struct {
	Epoch   string `json:"epoch"`
	Seq     int64  `json:"seq"`
	EventID string `json:"event_id,omitempty"`
}

// IsZero reports whether p is the zero Position: no history followed yet.
func (p Position) IsZero() bool { return p == Position{} }

// ChannelPosition is a client's position in one channel's log.
type ChannelPosition struct {
	CID string `json:"cid"`
	Position
}

// SyncRequest asks for everything after the client's positions: its
// membership feed, and each channel it holds.
type SyncRequest struct {
	// Version is the protocol version the client speaks: Version.
	Version int `json:"version"`
	// LastSyncAt is the server time of the client's last complete sync
	// (SyncResponse.SyncedAt), zero before the first. It is not a cursor:
	// the server judges its retention window on it, and answers
	// CodeSyncPositionTooOld when it is older.
	LastSyncAt time.Time `json:"last_sync_at,omitzero"`
	// Feed is the client's position in its membership feed; nil before
	// the first sync, which gets a feed reset (every channel the user is
	// a member of).
	Feed *Position `json:"feed,omitempty"`
	// Channels are the client's positions in the channels it holds. A
	// position may be the zero Position for a channel the client has no
	// state of yet; it is then answered with a reset.
	Channels []ChannelPosition `json:"channels"`
	// Limit caps the events in one page; zero means the server's default.
	Limit int `json:"limit,omitempty"`
}

// SyncResponse is one page of a sync, read in one snapshot. A client
// applies it, with the positions it carries, in one local transaction,
// then asks again with the new positions while More is set.
type SyncResponse struct {
	// Feed is what changed in the user's membership feed.
	Feed FeedPage `json:"feed"`
	// Events are channel events, in (cid, seq) order, each after the
	// client's position in its channel.
	Events []Event `json:"events"`
	// Channels says, for each requested channel the page has news of,
	// where the client stands after it: ChannelOK with the position its
	// events reach, ChannelReset, or ChannelInaccessible. A requested
	// channel not listed has nothing after the client's position.
	Channels []ChannelSync `json:"channels,omitempty"`
	// More is set when the page was cut at the limit: ask again.
	More bool `json:"more,omitempty"`
	// SyncedAt is the server time of the page's snapshot. Stored after
	// the last page as the client's LastSyncAt; for display and the
	// retention window only.
	SyncedAt time.Time `json:"synced_at"`
	// Hello is the server's identity and settings, on every page.
	Hello *Hello `json:"hello,omitempty"`
}

// FeedPage is one page of a user's membership feed.
type FeedPage struct {
	// Reset is set when the client's feed position was nil, of another
	// epoch, or lost: Channels then lists every channel the user is a
	// member of now, and the client drops the channels it holds that are
	// not listed. Events is empty.
	Reset    bool     `json:"reset,omitempty"`
	Channels []string `json:"channels,omitempty"`
	// Hidden, on a reset, lists the channels of Channels the user has
	// hidden (POST /channels/{cid}/hide); the others are shown. Sorted.
	Hidden []string `json:"hidden,omitempty"`
	// Events are the feed's entries after the client's position, in
	// order: notification.added_to_channel, notification.removed_from_channel,
	// channel.hidden, channel.visible and user.updated (the user's own).
	// Each event's Seq and Epoch are its place in the feed, not in a
	// channel's log.
	Events []Event `json:"events,omitempty"`
	// Position is the client's feed position once this page is applied.
	Position Position `json:"position"`
}

// ChannelSync states of a channel in a SyncResponse.
const (
	// ChannelOK: the page's events of the channel are after the client's
	// position; Position is where they end.
	ChannelOK = "ok"
	// ChannelReset: the client's position cannot be continued (another
	// epoch, history pruned past it, beyond the log's end, or a log that
	// diverged from it). The client drops its cached rows of the channel,
	// keeps its pending writes, and fetches the channel's state afresh
	// (QueryChannelsRequest.CIDs), which carries a new position.
	ChannelReset = "reset"
	// ChannelInaccessible: the user may not read the channel (not a
	// member, or no such channel). The client drops it.
	ChannelInaccessible = "inaccessible"
)

// Reasons a position cannot be continued, in ChannelSync.Reason.
const (
	ReasonNoPosition = "no position" // the client has none (zero position)
	ReasonEpoch      = "epoch"       // the log was re-created or cut: another history
	ReasonAhead      = "ahead"       // past the log's end: the server lost events it had
	// ReasonPruned: retention removed events after the position. The
	// history is the one the client followed (its rows and versions
	// stand); only the events that would bring it up to date are gone.
	ReasonPruned   = "pruned"
	ReasonDiverged = "diverged" // another event stands at the position's seq
)

// ChannelSync is where a client stands in one channel after a page.
type ChannelSync struct {
	CID    string `json:"cid"`
	Status string `json:"status"`
	// Reason says why, for ChannelReset: one of the Reason constants.
	Reason string `json:"reason,omitempty"`
	// Position is set for ChannelOK.
	Position *Position `json:"position,omitempty"`
}
