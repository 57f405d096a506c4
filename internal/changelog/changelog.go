package changelog

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// The kinds of change, as bits; syncmanager.ChangeKind has these values.
const (
	Live  uint8 = 1 << iota // live events from the connection applied
	Sync                    // a sync page or channel states applied
	Reset                   // the cache cleared to refill
	Write                   // a write queued (its optimistic row)
	Task                    // the server answered or refused writes
)

// MaxIDs caps the message ids, and the record keys, one Note lists; past
// it, Many is set.
const MaxIDs = 1000

// Keep is how many of the newest rows the log keeps.
const Keep = 4096

// Note accumulates what one or more transactions changed. The zero value
// is ready to use.
type Note struct {
	Kind     uint8
	Channels map[string]bool
	Messages map[string]bool              // empty once Many is set
	Records  map[offlinedb.RecordKey]bool // empty once Many is set
	Many     bool                         // too many messages or records to list
	Reset    bool                         // the whole cache was cleared
}

// Channel notes a channel id.
func (n *Note) Channel(cid string) {
	if cid == "" {
		return
	}
	if n.Channels == nil {
		n.Channels = map[string]bool{}
	}
	n.Channels[cid] = true
}

// Message notes a message id, or sets Many past MaxIDs.
func (n *Note) Message(id string) {
	if id == "" || n.Many {
		return
	}
	if n.Messages == nil {
		n.Messages = map[string]bool{}
	}
	n.Messages[id] = true
	if len(n.Messages) > MaxIDs {
		n.many()
	}
}

// Record notes a record's key, or sets Many past MaxIDs.
func (n *Note) Record(k offlinedb.RecordKey) {
	if k.ID == "" || n.Many {
		return
	}
	if n.Records == nil {
		n.Records = map[offlinedb.RecordKey]bool{}
	}
	n.Records[k] = true
	if len(n.Records) > MaxIDs {
		n.many()
	}
}

// many sets Many: too many ids to list any.
func (n *Note) many() { n.Many, n.Messages, n.Records = true, nil, nil }

// Task notes a write of the outbox: its channel, and its message or
// record (collection and recordID, empty for a message's write).
func (n *Note) Task(cid, messageID, collection, recordID string) {
	n.Channel(cid)
	n.Message(messageID)
	n.Record(offlinedb.RecordKey{CID: cid, Collection: collection, ID: recordID})
}

// Event notes what an event touches.
func (n *Note) Event(ev *protocol.Event) {
	n.Channel(ev.CID)
	if ev.Message != nil {
		n.Message(ev.Message.ID)
		n.Channel(ev.Message.CID)
	}
	if ev.Reaction != nil {
		n.Message(ev.Reaction.MessageID)
	}
	if ev.Channel != nil {
		n.Channel(ev.Channel.CID)
	}
	if r := ev.Record; r != nil {
		cid := r.CID
		if cid == "" {
			cid = ev.CID
		}
		n.Record(offlinedb.RecordKey{CID: cid, Collection: r.Collection, ID: r.ID})
	}
}

// Page notes what a sync page changed: its events, the channels of its
// membership feed, the channels it does not answer as OK, and dropped,
// the channels the store dropped applying it.
func (n *Note) Page(p *protocol.SyncResponse, dropped []string) {
	for i := range p.Feed.Events {
		n.Event(&p.Feed.Events[i])
	}
	for i := range p.Events {
		n.Event(&p.Events[i])
	}
	for _, cid := range p.Feed.Channels {
		n.Channel(cid)
	}
	for _, cs := range p.Channels {
		if cs.Status != protocol.ChannelOK {
			n.Channel(cs.CID)
		}
	}
	for _, cid := range dropped {
		n.Channel(cid)
	}
}

// States notes channel states stored whole, and the channels found
// inaccessible.
func (n *Note) States(states []protocol.ChannelResponse, inaccessible []string) {
	for i := range states {
		n.Channel(states[i].Channel.CID)
		for j := range states[i].Messages {
			n.Message(states[i].Messages[j].ID)
		}
	}
	for _, cid := range inaccessible {
		n.Channel(cid)
	}
}

// History notes a page of the channel cid's history stored: the channel
// and the messages the page holds.
func (n *Note) History(cid string, page *protocol.HistoryPage) {
	n.Channel(cid)
	for i := range page.Messages {
		n.Message(page.Messages[i].ID)
	}
}

// Add merges a logged entry into n.
func (n *Note) Add(e Entry) {
	n.Kind |= e.Kind
	n.Reset = n.Reset || e.Reset
	for _, cid := range e.Channels {
		n.Channel(cid)
	}
	if e.Many {
		n.many()
	}
	for _, id := range e.Messages {
		n.Message(id)
	}
	for _, k := range e.Records {
		n.Record(k)
	}
}

// Empty reports whether n notes nothing.
func (n *Note) Empty() bool { return n.Kind == 0 }

// ChannelIDs and MessageIDs return the ids noted, sorted.
func (n *Note) ChannelIDs() []string { return sorted(n.Channels) }
func (n *Note) MessageIDs() []string { return sorted(n.Messages) }

// RecordKeys returns the record keys noted, sorted by channel, collection
// and id.
func (n *Note) RecordKeys() []offlinedb.RecordKey {
	var out []offlinedb.RecordKey
	for k := range n.Records {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.CID != b.CID {
			return a.CID < b.CID
		}
		if a.Collection != b.Collection {
			return a.Collection < b.Collection
		}
		return a.ID < b.ID
	})
	return out
}

func sorted(set map[string]bool) []string {
	var out []string
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Entry is one row of the log.
type Entry struct {
	ID       int64
	Origin   string // the open store that wrote it
	Kind     uint8
	Channels []string
	Messages []string
	Records  []offlinedb.RecordKey
	Many     bool
	Reset    bool
}

// Append writes n as a row of the log, inside the transaction tx, and
// prunes the log to its newest Keep rows now and then. An empty note
// writes nothing.
func Append(ctx context.Context, tx sqlx.ExtContext, origin string, n *Note) error {
	if n.Empty() {
		return nil
	}
	chans, err := json.Marshal(nonNil(n.ChannelIDs()))
	if err != nil {
		return err
	}
	msgs, err := json.Marshal(nonNil(n.MessageIDs()))
	if err != nil {
		return err
	}
	recs, err := json.Marshal(encodeKeys(n.RecordKeys()))
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO change_log (origin, kind, channels, messages, records, many, reset) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		origin, n.Kind, string(chans), string(msgs), string(recs), n.Many, n.Reset)
	if err != nil {
		return fmt.Errorf("changelog: append: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if id%64 == 0 && id > Keep {
		if _, err := tx.ExecContext(ctx, `DELETE FROM change_log WHERE id <= ?`, id-Keep); err != nil {
			return fmt.Errorf("changelog: prune: %w", err)
		}
	}
	return nil
}

// encodeKeys gives record keys their logged form: [cid, collection, id]
// triples.
func encodeKeys(keys []offlinedb.RecordKey) [][3]string {
	out := make([][3]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, [3]string{k.CID, k.Collection, k.ID})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Last returns the id of the newest row ever written (0 for none), the
// position a new reader starts from.
func Last(ctx context.Context, q sqlx.QueryerContext) (int64, error) {
	var id sql.NullInt64
	err := sqlx.GetContext(ctx, q, &id, `SELECT seq FROM sqlite_sequence WHERE name = 'change_log'`)
	if err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("changelog: last: %w", err)
	}
	return id.Int64, nil
}

// Since returns up to limit rows after the row id after, oldest first.
// lost is set when rows after it were pruned before they were read: the
// reader missed changes and must reread everything.
func Since(ctx context.Context, q sqlx.QueryerContext, after int64, limit int) (entries []Entry, lost bool, err error) {
	rows, err := q.QueryxContext(ctx, `SELECT id, origin, kind, channels, messages, records, many, reset FROM change_log WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, false, fmt.Errorf("changelog: read: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Entry
		var chans, msgs, recs string
		if err := rows.Scan(&e.ID, &e.Origin, &e.Kind, &chans, &msgs, &recs, &e.Many, &e.Reset); err != nil {
			return nil, false, fmt.Errorf("changelog: read: %w", err)
		}
		if err := json.Unmarshal([]byte(chans), &e.Channels); err != nil {
			return nil, false, fmt.Errorf("changelog: row %d: %w", e.ID, err)
		}
		if err := json.Unmarshal([]byte(msgs), &e.Messages); err != nil {
			return nil, false, fmt.Errorf("changelog: row %d: %w", e.ID, err)
		}
		var keys [][3]string
		if err := json.Unmarshal([]byte(recs), &keys); err != nil {
			return nil, false, fmt.Errorf("changelog: row %d: %w", e.ID, err)
		}
		for _, k := range keys {
			e.Records = append(e.Records, offlinedb.RecordKey{CID: k[0], Collection: k[1], ID: k[2]})
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("changelog: read: %w", err)
	}
	lost = len(entries) > 0 && entries[0].ID > after+1
	return entries, lost, nil
}
