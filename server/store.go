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

// ErrExists is returned by Tx.CreateChannel for a cid that is taken.
var ErrExists = errors.New("server: exists")

// Store keeps the server's state and its logs. The server holds all the
// rules (membership, versions, events); a Store only reads and writes.
// The embedded SQLite store is in package sqlitestore; a Postgres one
// implements the same interface, and both pass package storetest.
//
// # Logs and positions
//
// Each channel has an event log, and each user a membership feed; both are
// logs of the same kind (LogState). A log has an epoch, a random name set
// when it begins (a channel's when it is created, a feed's at its first
// event), and numbers its events with seq from 1 with no gaps.
//
// A seq is taken in the write's own transaction from the log's counter
// (NextPosition, NextFeedPosition), whose row stays locked until the
// transaction ends. The counter holds the log's head: the last seq and
// the id of the event there, so a position at the head is checked
// without reading the log. So on any store with row locks a log's events commit
// in seq order, and every snapshot holds a prefix of each log: a reader
// that continues from a seq it read can skip nothing. Nothing orders
// events by time, and no lock of one process is relied on: several
// servers may write to one database.
type Store interface {
	// Update runs fn in one write transaction: every change fn makes,
	// and every event it appends, commits together or not at all.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(tx Tx) error) error

	// Prune cuts the head of every log: in each channel, the events
	// created before `before` and, when maxPerChannel > 0, all but the
	// newest maxPerChannel; in each feed, the events created before
	// `before`. A log loses a prefix: every event up to the highest seq
	// cut, which becomes its PrunedSeq (with its id, PrunedEventID). It
	// also forgets idempotency keys older than `before`, and returns how
	// many events went. Tombstones of removed messages stay.
	Prune(ctx context.Context, before time.Time, maxPerChannel int) (int, error)

	// ServerID returns the id made once with the database (see
	// protocol.Hello.ServerID): the same on every node sharing it and in
	// a restored copy of it, another for another database.
	ServerID(ctx context.Context) (string, error)

	Close() error
}

// LogState is where a log stands: a channel's event log, or a user's
// membership feed.
type LogState struct {
	// Key names the log: the channel's cid, or the feed's user id.
	Key string
	// Epoch names the log's history; "" for a feed that has no event yet.
	Epoch string
	// LastSeq is the seq of the log's last event, 0 if none.
	LastSeq int64
	// LastEventID is the id of the event at LastSeq, "" if none. It is
	// kept when retention removes that event.
	LastEventID string
	// PrunedSeq is the highest seq retention removed, 0 if none: the
	// events after it and up to LastSeq are all kept.
	PrunedSeq int64
	// PrunedEventID is the id of the event at PrunedSeq.
	PrunedEventID string
}

// StoredEvent is an event as a log holds it: its place, id and time, and
// its wire JSON, which sync passes on without decoding it again.
type StoredEvent struct {
	Seq       int64
	ID        string
	CreatedAt time.Time
	Payload   json.RawMessage
}

// EventRange selects the events of one log with From <= seq <= To.
type EventRange struct {
	Key      string
	From, To int64
}

// MessagesPage selects a page of a channel's messages. Messages are ordered
// by the seq of their message.new event. At most one of Before, After and
// BeforeSeq is set; none selects the newest.
type MessagesPage struct {
	Limit     int
	Before    *protocol.Message // messages older than this one
	After     *protocol.Message // messages newer than this one
	BeforeSeq int64             // messages with a seq below this one
}

// RecordKey names a record within its channel.
type RecordKey struct{ Collection, ID string }

// StoredRules is one installed version of the record rules.
type StoredRules struct {
	Version   int64
	Hash      string // hex SHA-256 of Source
	Source    []byte // the rules' canonical JSON (Rules.MarshalJSON)
	CreatedAt time.Time
}

// Tx is one transaction of a Store. Reads return ErrNotFound for a
// missing row.
type Tx interface {
	// Now is the transaction's wall-clock time, for display: created_at
	// and updated_at fields. It orders nothing. It is read after the
	// write's channel is locked (on SQLite, after the write lock; on
	// Postgres, at its first call, which the server makes after it has
	// read, and so locked, the channel), so that a write that waited
	// behind another carries a later time where the clock allows.
	Now() time.Time

	User(id string) (protocol.User, error)
	PutUser(u protocol.User) error

	Channel(cid string) (protocol.Channel, error)
	// CreateChannel stores c as a new channel, beginning its log with a
	// fresh epoch, and returns ErrExists if a channel with c.CID exists
	// (deleted or not). A creation of the same cid by a transaction
	// still running is waited for: if it commits, ErrExists; so of two
	// creations of one cid, on any nodes, at any timing, one succeeds.
	// After ErrExists, Channel(c.CID) reads the channel that exists.
	CreateChannel(c protocol.Channel) error
	// PutChannel stores c. A channel stored for the first time begins a
	// log with a fresh random epoch, distinct from every earlier one; a
	// write that means to create a channel uses CreateChannel, which
	// never overwrites one.
	PutChannel(c protocol.Channel) error
	// UserChannels lists the channels userID is a member of, most recent
	// activity first.
	UserChannels(userID string, limit, offset int) ([]protocol.Channel, error)
	// UserChannelIDs returns the cids of the channels userID is a member
	// of, sorted.
	UserChannelIDs(userID string) ([]string, error)

	Member(cid, userID string) (protocol.Member, error)
	Members(cid string) ([]protocol.Member, error)
	// MemberIDs returns the user ids of cid's members: what fan-out needs,
	// without decoding each member.
	MemberIDs(cid string) ([]string, error)
	PutMember(m protocol.Member) error
	DeleteMember(cid, userID string) error
	// ChannelHidden reports whether userID has hidden cid from their
	// channel list: a flag of the membership, private to its user, that
	// PutMember leaves as it is. ErrNotFound if userID is not a member.
	ChannelHidden(cid, userID string) (bool, error)
	// SetChannelHidden sets userID's hidden flag on their membership of
	// cid. ErrNotFound if userID is not a member. A membership begins
	// shown, and a re-added member begins shown again.
	SetChannelHidden(cid, userID string, hidden bool) error
	// HiddenChannelIDs returns the cids of the channels userID has
	// hidden, sorted.
	HiddenChannelIDs(userID string) ([]string, error)

	Message(id string) (protocol.Message, error)
	Messages(cid string, page MessagesPage) ([]protocol.Message, error)
	// PutMessage stores m. A message stored for the first time takes its
	// place in its channel from its Version then: the seq of its
	// message.new event.
	PutMessage(m protocol.Message) error
	// DeleteMessage removes a message and its reactions for good, and
	// keeps its id in a tombstone that retention never prunes, so that
	// the id is never stored again (RemovedMessages).
	DeleteMessage(id string) error
	// RemovedMessages returns those of ids that DeleteMessage removed, in
	// no particular order.
	RemovedMessages(ids []string) ([]string, error)

	Reaction(messageID, userID, typ string) (protocol.Reaction, error)
	Reactions(messageID string) ([]protocol.Reaction, error)
	PutReaction(r protocol.Reaction) error
	DeleteReaction(messageID, userID, typ string) error

	Read(cid, userID string) (protocol.Read, error)
	Reads(cid string) ([]protocol.Read, error)
	PutRead(r protocol.Read) error

	// NextPosition takes the next seq of cid's log for the event
	// eventID, which the transaction then appends (AppendEvent), and
	// returns it with the log's epoch. The counter then holds the head:
	// LastSeq is that seq, LastEventID eventID. The log's counter stays
	// locked until the transaction ends, so seqs commit in order and
	// without gaps.
	NextPosition(cid, eventID string) (protocol.Position, error)
	// AppendEvent stores ev in the log of ev.CID at ev.Seq.
	AppendEvent(ev protocol.Event) error
	// ChannelLog returns the state of cid's log.
	ChannelLog(cid string) (LogState, error)
	// ChannelLogs returns the state of the log of every channel userID
	// is a member of, sorted by cid.
	ChannelLogs(userID string) ([]LogState, error)
	// ChannelEvents returns up to limit events of cid's log with seq
	// after afterSeq, in seq order.
	ChannelEvents(cid string, afterSeq int64, limit int) ([]StoredEvent, error)
	// ChannelEventRanges returns, for each range (Key a cid), the
	// events of that channel's log within it, in seq order: a sync
	// page's events in one read. A range of a log without events there
	// gets none.
	ChannelEventRanges(ranges []EventRange) ([][]StoredEvent, error)

	// ContentEvents returns up to limit events of cid's log with
	// afterSeq < seq < beforeSeq that carry a message's content (whose
	// protocol.Event.ContentOf is not ""), in seq order; with messageID
	// set, only those of that message.
	ContentEvents(cid, messageID string, afterSeq, beforeSeq int64, limit int) ([]StoredEvent, error)
	// RedactEvent replaces the payload of the event at seq in cid's log
	// with payload, its redacted form (protocol.Event.Redact), which
	// carries no content: ContentEvents no longer returns it. The event
	// keeps its seq, id and time.
	RedactEvent(cid string, seq int64, payload json.RawMessage) error

	// NextFeedPosition takes the next seq of userID's membership feed
	// for the event eventID, beginning the feed (with a fresh epoch) if
	// it has none, and sets and locks the feed's counter as NextPosition
	// does.
	NextFeedPosition(userID, eventID string) (protocol.Position, error)
	// AppendFeedEvent stores ev in userID's feed at ev.Seq.
	AppendFeedEvent(userID string, ev protocol.Event) error
	// FeedLog returns the state of userID's feed: Epoch "" and seq 0
	// when it has no event yet.
	FeedLog(userID string) (LogState, error)
	// FeedEvents returns up to limit events of userID's feed with seq
	// after afterSeq, in seq order.
	FeedEvents(userID string, afterSeq int64, limit int) ([]StoredEvent, error)

	// Record returns a record, live or a tombstone.
	Record(cid, collection, id string) (protocol.Record, error)
	// PutRecord stores r, a record or its tombstone (r.Deleted).
	PutRecord(r protocol.Record) error
	// Records returns up to limit live records of cid after the key
	// after (from the first, for the zero key), in (collection, id)
	// order, each as stored: the JSON of its protocol.Record, which a
	// page of records sends as it is.
	Records(cid string, after RecordKey, limit int) ([]json.RawMessage, error)
	// DeleteRecords removes every record of cid, tombstones included.
	DeleteRecords(cid string) error

	// RecordRulesVersion returns the version of the record rules in
	// force, 0 if none were ever installed: one cheap read, which each
	// record write makes to judge itself by the rules of its time.
	RecordRulesVersion() (int64, error)
	// RecordRules returns the record rules in force, ErrNotFound if none
	// were ever installed.
	RecordRules() (StoredRules, error)
	// InstallRecordRules stores a new version of the record rules, the
	// one after the highest stored, and returns it.
	InstallRecordRules(hash string, source []byte) (int64, error)

	// IdempotentResult returns the stored answer to an earlier write with
	// the same (user, key), or ErrNotFound.
	IdempotentResult(userID, key string) ([]byte, error)
	PutIdempotentResult(userID, key string, result []byte) error
}
