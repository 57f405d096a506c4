package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// ErrNotFound is returned by a Tx for a row that does not exist.
var ErrNotFound = errors.New("server: not found")

// Store keeps the server's state and its event log. The server holds all
// the rules (membership, versions, events); a Store only reads and writes.
// The embedded SQLite store is in package sqlitestore; a Postgres one
// implements the same interface.
type Store interface {
	// Update runs fn in one write transaction: every change fn makes,
	// and every event it appends, commits together or not at all. The
	// Tx's Now is the transaction's timestamp.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(tx Tx) error) error

	// Watermark returns a server time W such that every event not yet
	// committed, including those of writes in flight now, will have a
	// created_at after W. Sync hands it out as the client's checkpoint.
	// A store with one writer can track its write in flight; a store with
	// several writer processes subtracts its longest commit latency.
	Watermark(ctx context.Context) (time.Time, error)

	// Prune deletes events created before `before` and, when
	// maxPerChannel > 0, all but the newest maxPerChannel of each
	// channel, and returns how many went.
	Prune(ctx context.Context, before time.Time, maxPerChannel int) (int, error)

	Close() error
}

// StoredEvent is an event as the log holds it: its position, its time,
// and its wire JSON, which sync passes on without decoding it again.
type StoredEvent struct {
	Pos       int64
	Seq       int64  // the event's place in its channel's log
	ID        string // the event's id
	CreatedAt time.Time
	Payload   json.RawMessage
}

// MessagesPage selects a page of a channel's messages.
type MessagesPage struct {
	Limit  int
	Before *protocol.Message // messages older than this one
	After  *protocol.Message // messages newer than this one
}

// Tx is one transaction of a Store. Reads return ErrNotFound for a
// missing row.
type Tx interface {
	// Now is the transaction's timestamp: for an Update, later than that
	// of every transaction committed before it.
	Now() time.Time
	// Tick moves the write's timestamp on by the store's smallest step,
	// so the writes of a batch are stamped, and their messages ordered,
	// one after the other. Every timestamp of a write stays after those of
	// the writes committed before it and before those of the writes after.
	Tick()

	// EventsAfter returns up to limit stored events of the channels cids
	// with created_at after `after` and a log position after afterPos, in
	// commit order. Read in the same snapshot as PrunedAt and the
	// memberships, a sync page cannot miss events pruned meanwhile.
	EventsAfter(cids []string, after time.Time, afterPos int64, limit int) ([]StoredEvent, error)
	// PrunedAt returns, for each of cids that has lost events to
	// retention, the created_at of the newest pruned event.
	PrunedAt(cids []string) (map[string]time.Time, error)

	User(id string) (protocol.User, error)
	PutUser(u protocol.User) error

	Channel(cid string) (protocol.Channel, error)
	PutChannel(c protocol.Channel) error
	// UserChannels lists the channels userID is a member of, most recent
	// activity first.
	UserChannels(userID string, limit, offset int) ([]protocol.Channel, error)

	Member(cid, userID string) (protocol.Member, error)
	// Memberships returns which of cids userID is a member of.
	Memberships(userID string, cids []string) (map[string]bool, error)
	Members(cid string) ([]protocol.Member, error)
	// MemberIDs returns the user ids of cid's members: what fan-out needs,
	// without decoding each member.
	MemberIDs(cid string) ([]string, error)
	PutMember(m protocol.Member) error
	DeleteMember(cid, userID string) error

	Message(id string) (protocol.Message, error)
	Messages(cid string, page MessagesPage) ([]protocol.Message, error)
	PutMessage(m protocol.Message) error
	// DeleteMessage removes a message and its reactions for good.
	DeleteMessage(id string) error

	Reaction(messageID, userID, typ string) (protocol.Reaction, error)
	Reactions(messageID string) ([]protocol.Reaction, error)
	PutReaction(r protocol.Reaction) error
	DeleteReaction(messageID, userID, typ string) error

	Read(cid, userID string) (protocol.Read, error)
	Reads(cid string) ([]protocol.Read, error)
	PutRead(r protocol.Read) error

	// ChannelLog returns the state of cid's event log: its epoch, the
	// seq of its last event, and the seq up to which retention pruned it.
	ChannelLog(cid string) (LogState, error)
	// ChannelEvents returns up to limit of cid's stored events after
	// afterSeq, in seq order.
	ChannelEvents(cid string, afterSeq int64, limit int) ([]StoredEvent, error)

	// NextSeq returns the channel's next event sequence number, taking
	// the channel's sequence for the rest of the transaction.
	NextSeq(cid string) (int64, error)
	// AppendEvent stores an event in the log.
	AppendEvent(ev protocol.Event) error

	// IdempotentResult returns the stored answer to an earlier write with
	// the same (user, key), or ErrNotFound.
	IdempotentResult(userID, key string) ([]byte, error)
	PutIdempotentResult(userID, key string, result []byte) error
}
