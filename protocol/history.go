package protocol

// PathHistory pages a channel's current rows of one kind by key, newest
// first: GET with the query parameters kind, epoch, before and limit
// (HistoryRequest), answered with a HistoryPage. docs/PROTOCOL.md,
// "History paging", describes it.
const PathHistory = "/channels/{cid}/history"

// Kinds of state PathHistory pages.
const (
	// HistoryMessages pages a channel's messages by seq (the seq of each
	// message's message.new event), with their reactions.
	HistoryMessages = "messages"
)

// Limits of a history page.
const (
	// HistoryPageDefault is the rows of a page when the request names no
	// limit.
	HistoryPageDefault = 500
	// HistoryPageMax is the most rows one page may ask for.
	HistoryPageMax = 1000
)

// HistoryRequest asks for a page of a channel's current rows of one kind:
// up to Limit rows with a key below Before, newest first.
type HistoryRequest struct {
	// Kind is the kind of state: HistoryMessages.
	Kind string
	// Epoch is the epoch of the channel's log the client holds. A page
	// of another epoch cannot be joined to what the client holds: the
	// server answers with ChannelReset instead. "" asks without a check
	// (a client with no state of the channel).
	Epoch string
	// Before is the exclusive upper bound of the keys (seqs) asked for;
	// zero asks for the newest rows, up to the log's head.
	Before int64
	// Limit caps the rows; zero means HistoryPageDefault.
	Limit int
}

// HistoryPage is one page of a channel's current rows of one kind, read
// in one snapshot. It covers the keys From to To, both included: every
// row of the kind with a key in that range is in it, as it stood at
// Position, and a row of that range missing from it did not exist then
// (it was never written, or it was deleted, truncated or redacted). A
// page with From 1 reaches the start of the channel's history; a page
// with To below From (a request before the start) is empty.
type HistoryPage struct {
	// Status is ChannelOK, or ChannelReset (the request's epoch is not
	// the log's: fetch the channel's state afresh) or
	// ChannelInaccessible (the user may not read the channel).
	Status string `json:"status"`
	Kind   string `json:"kind,omitempty"`
	// Position is the channel's log head at the page's snapshot: a
	// client with no state of the channel continues its sync from there.
	Position *Position `json:"position,omitempty"`
	From     int64     `json:"from"`
	To       int64     `json:"to"`
	// Messages are the page's messages (Kind HistoryMessages), oldest
	// first, and Reactions the reactions to them.
	Messages  []Message  `json:"messages,omitempty"`
	Reactions []Reaction `json:"reactions,omitempty"`
}

// Start reports whether the page reaches the start of the channel's
// history: nothing older exists.
func (p *HistoryPage) Start() bool { return p.From <= 1 }
