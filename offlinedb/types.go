package offlinedb

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/outpostsync/outpost/migrations"
	"github.com/outpostsync/outpost/protocol"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// BusyTimeout is how long a write waits for another connection or
	// process holding the write lock. Zero means 5s.
	BusyTimeout time.Duration

	// MoveAside, when set, makes Open move a file that is not a usable
	// SQLite database (and its -wal and -shm files) to
	// PATH.corrupt-TIMESTAMP and create a fresh store in its place. The
	// *OpenError is still reported through Options.Logger. When unset,
	// such a file makes Open fail with an *OpenError wrapping
	// ErrNotDatabase and the file is left as it is.
	MoveAside bool

	// Migrations are the app's own migration sets, applied after the
	// store's own set, for tables of the app's.
	Migrations []migrations.Set

	// Logger receives warnings (skipped events, moved files). Nil means
	// logs are dropped.
	Logger *slog.Logger

	// Now is the clock for local bookkeeping times (when a task was
	// queued or failed); never for sync checkpoints, which are server
	// time. Nil means time.Now.
	Now func() time.Time
}

// MessageStatus is the local state of a message or reaction row.
type MessageStatus string

// Local row states.
const (
	StatusSent    MessageStatus = "sent"    // server data
	StatusPending MessageStatus = "pending" // optimistic, in the outbox
	StatusFailed  MessageStatus = "failed"  // refused by the server; see Error
)

// Message is a message as the local store holds it.
type Message struct {
	protocol.Message
	Status MessageStatus
	Error  string // why the server refused it, for StatusFailed
}

// Reaction is a reaction as the local store holds it.
type Reaction struct {
	protocol.Reaction
	Status MessageStatus
	Error  string
}

// Channel is a channel as the local store holds it.
type Channel struct {
	protocol.Channel
	// LastSeq is the highest event sequence number applied.
	LastSeq int64
	// HistoryComplete is set when the store holds the channel's messages
	// from the start of its history; unset, the server has older ones
	// (see Held).
	HistoryComplete bool
}

// ChannelsQuery filters and pages Channels.
type ChannelsQuery struct {
	Limit int // zero means 100
	// After continues a listing: the Cursor of the last channel of the
	// page before. Empty means from the first channel.
	After         string
	IncludeHidden bool // include channels the user hid
	// Types, when set, lists only channels of these types: a chat view
	// asks for its chat types and leaves out channels that hold the
	// app's records. Empty means every type.
	Types []string
}

// Cursor returns the place of c in a listing of Channels, for
// ChannelsQuery.After.
func (c Channel) Cursor() string {
	var t time.Time
	switch {
	case c.LastMessageAt != nil:
		t = *c.LastMessageAt
	case !c.UpdatedAt.IsZero():
		t = c.UpdatedAt
	default:
		t = c.CreatedAt
	}
	var key int64
	if !t.IsZero() {
		key = t.UnixNano()
	}
	return strconv.FormatInt(key, 10) + ":" + c.CID
}

// MessagesQuery pages Messages. Before and After are message ids; with
// neither, the latest messages come back.
type MessagesQuery struct {
	Limit          int    // zero means 50
	Before         string // messages older than this one
	After          string // messages newer than this one
	IncludeDeleted bool   // include soft-deleted messages
	// Oldest, with neither Before nor After, asks for the first Limit
	// messages the store holds instead of the latest.
	Oldest bool
}

// Held is the part of a channel's history the store holds: every message
// with a seq from From to To (the channel's position), as the server has
// it, with no hole. Seqs have gaps (other events, deleted messages), so
// the range says what is covered, not how many messages there are.
type Held struct {
	CID   string
	Epoch string // "" when the channel has no state yet
	From  int64  // 1: the range reaches the start of the history
	To    int64
	// Until is, after the server reset the channel, the seq down to
	// which the rows held before the reset are still to be re-checked
	// (fetched again); 0 when there is nothing to re-check.
	Until int64
	// Messages counts the sent messages held in the range.
	Messages int
}

// Complete reports whether the store holds the channel's history from its
// start: the server has nothing older.
func (h Held) Complete() bool { return h.Epoch != "" && h.From <= 1 }

// PendingTask is a write waiting in the outbox: the op POST /batch takes,
// with the outbox's bookkeeping. The client's write methods make them.
type PendingTask struct {
	// Seq is the task's place in the outbox, set by the store; tasks run
	// in Seq order.
	Seq int64
	// ID is the client-made id that makes the write exactly-once: the
	// message id for send-message, the op's idempotency key for the
	// others.
	ID     string
	UserID string
	// Type is the write's op type.
	Type protocol.BatchOpType
	// CID is the channel the write is in, and MessageID the message it
	// is on (empty for mark-read): the local rows it touches.
	CID       string
	MessageID string
	// Collection and RecordID name the record a record op is on (in
	// channel CID); empty for the other ops.
	Collection string
	RecordID   string
	// Payload is the op's body, sent as stored.
	Payload json.RawMessage
	// Attempts counts sends that failed for a temporary reason.
	Attempts  int
	LastError string
	CreatedAt time.Time
	// NextAttemptAt is when a retry is due (zero: now).
	NextAttemptAt time.Time
}

// FailedTask is a task the server refused for good.
type FailedTask struct {
	PendingTask
	Error     string
	ErrorCode int // the API error code, 0 if there was none
	FailedAt  time.Time
	// Refusal is the server's error body, when it sent one: the JSON
	// path of the offending value, and for a record write the server's
	// record and, for a conflict, both values of the field.
	Refusal *protocol.APIError
}

// RecordKey names a record: its channel, collection and id.
type RecordKey struct {
	CID        string
	Collection string
	ID         string
}

// RecordStatus says whether a record read has writes of this device the
// server has not answered yet, or a refused one.
type RecordStatus struct {
	// Pending counts the record's writes in the outbox; its fields are
	// the server's with those writes applied over them.
	Pending int
	// Failed counts the record's writes on the failed list; its fields
	// are the server's (a refused write rolls back).
	Failed int
}

// Record is a record as the local store holds it: the server's record
// with this device's pending writes over it.
type Record struct {
	protocol.Record
	RecordStatus
}

// Index declares a top-level field of a collection's records that List
// filters and sorts by: the store keeps a SQLite expression index over
// the JSON field.
type Index struct {
	Field string
	// Type is how the field's JSON value is compared: "text", "integer",
	// "real" or "boolean" (stored as 0 and 1).
	Type string
}

// FieldFilter is an equality filter on a top-level field.
type FieldFilter struct {
	Field string
	Value any
}
