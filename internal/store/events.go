package store

import (
	"context"
	"math"

	"github.com/outpostsync/outpost/protocol"
)

// Row templates. Each guards its upsert with the row's version (an older
// update never overwrites a newer row) and with tombstones (a deleted row
// never comes back at a version its deletion has passed). Columns a partial
// payload may leave out keep their stored value. SQLite names the columns of
// a VALUES list column1, column2, ...

var messageCols = `id, cid, user_id, text, parent_id, created_at, updated_at, deleted_at, reaction_counts, version, extra, seq`

// messageGuard is the guard and upsert of a message row whose id, cid and
// version are the VALUES list's column1, column2 and the column version.
func messageGuard(version string) string {
	return `) AS v WHERE NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'message' AND t.key = v.column1 AND t.version >= ` + version + `)
AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'channel' AND t.key = v.column2 AND t.version >= ` + version + `)
AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'truncate' AND t.key = v.column2 AND t.version > ` + version + `)
ON CONFLICT (id) DO UPDATE SET
	cid = excluded.cid,
	user_id = CASE WHEN excluded.user_id <> '' THEN excluded.user_id ELSE messages.user_id END,
	text = CASE WHEN excluded.text <> '' THEN excluded.text ELSE messages.text END,
	parent_id = CASE WHEN excluded.parent_id <> '' THEN excluded.parent_id ELSE messages.parent_id END,
	created_at = CASE WHEN messages.version = 0 THEN excluded.created_at ELSE messages.created_at END,
	updated_at = coalesce(excluded.updated_at, messages.updated_at),
	reaction_counts = coalesce(excluded.reaction_counts, messages.reaction_counts),
	version = excluded.version,
	extra = coalesce(excluded.extra, messages.extra),
	seq = CASE WHEN excluded.seq <> 0 THEN excluded.seq ELSE messages.seq END,
	status = 'sent',
	error = NULL,
	deleted_at = `
}

var (
	// upsertMessage keeps a stored deletion time unless the event carries
	// one: only message.undeleted clears it.
	upsertMessage = newTemplate(
		`INSERT INTO messages (`+messageCols+`, status) SELECT v.*, 'sent' FROM (VALUES `, 12,
		messageGuard("v.column10")+`coalesce(excluded.deleted_at, messages.deleted_at)
WHERE excluded.version > messages.version`)
	// plainMessage is upsertMessage of a message with no deletion time,
	// no reaction counts and no extra data, most of a sync's: the
	// columns that are the same for all of them are in the statement,
	// not bound for each row (binding costs more than the insert).
	plainMessage = newTemplate(
		`INSERT INTO messages (`+messageCols+`, status) SELECT v.column1, v.column2, v.column3, v.column4, v.column5,
	v.column6, v.column7, NULL, '{}', v.column8, NULL, v.column9, 'sent' FROM (VALUES `, 9,
		messageGuard("v.column8")+`coalesce(excluded.deleted_at, messages.deleted_at)
WHERE excluded.version > messages.version`)
	undeleteMessage = newTemplate(
		`INSERT INTO messages (`+messageCols+`, status) SELECT v.*, 'sent' FROM (VALUES `, 12,
		messageGuard("v.column10")+`NULL
WHERE excluded.version > messages.version`)

	upsertReaction = newTemplate(
		`INSERT INTO reactions (message_id, user_id, type, cid, score, created_at, updated_at, version, extra, status)
SELECT v.*, 'sent' FROM (VALUES `, 9,
		`) AS v WHERE NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'reaction'
	AND t.key = v.column1 || char(31) || v.column2 || char(31) || v.column3 AND t.version >= v.column8)
AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'message' AND t.key = v.column1 AND t.version >= v.column8)
AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'channel' AND t.key = v.column4 AND t.version >= v.column8)
AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'truncate' AND t.key = v.column4 AND t.version > v.column8)
ON CONFLICT (message_id, user_id, type) DO UPDATE SET
	cid = excluded.cid,
	score = excluded.score,
	created_at = coalesce(reactions.created_at, excluded.created_at),
	updated_at = coalesce(excluded.updated_at, reactions.updated_at),
	version = excluded.version,
	extra = coalesce(excluded.extra, reactions.extra),
	status = 'sent',
	error = NULL
WHERE excluded.version > reactions.version`)

	upsertChannel = newTemplate(
		`INSERT INTO channels (cid, type, id, name, created_by, created_at, updated_at, deleted_at, truncated_at, last_message_at, member_count, version, extra)
SELECT v.* FROM (VALUES `, 13,
		`) AS v WHERE NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'channel' AND t.key = v.column1 AND t.version >= v.column12)
ON CONFLICT (cid) DO UPDATE SET
	name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE channels.name END,
	created_by = CASE WHEN excluded.created_by <> '' THEN excluded.created_by ELSE channels.created_by END,
	created_at = coalesce(channels.created_at, excluded.created_at),
	updated_at = coalesce(excluded.updated_at, channels.updated_at),
	deleted_at = coalesce(excluded.deleted_at, channels.deleted_at),
	truncated_at = coalesce(excluded.truncated_at, channels.truncated_at),
	last_message_at = CASE WHEN coalesce(excluded.last_message_at, 0) > coalesce(channels.last_message_at, 0)
		THEN excluded.last_message_at ELSE channels.last_message_at END,
	member_count = CASE WHEN excluded.member_count > 0 THEN excluded.member_count ELSE channels.member_count END,
	version = excluded.version,
	extra = coalesce(excluded.extra, channels.extra),
	stub = 0
WHERE excluded.version > channels.version`)

	upsertMember = newTemplate(
		`INSERT INTO members (cid, user_id, role, created_at, updated_at, version) SELECT v.* FROM (VALUES `, 6,
		`) AS v WHERE NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'member'
	AND t.key = v.column1 || char(31) || v.column2 AND t.version >= v.column6)
AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'channel' AND t.key = v.column1 AND t.version >= v.column6)
AND EXISTS (SELECT 1 FROM channels c WHERE c.cid = v.column1)
ON CONFLICT (cid, user_id) DO UPDATE SET
	role = CASE WHEN excluded.role <> '' THEN excluded.role ELSE members.role END,
	created_at = coalesce(members.created_at, excluded.created_at),
	updated_at = coalesce(excluded.updated_at, members.updated_at),
	version = excluded.version
WHERE excluded.version > members.version`)

	upsertRead = newTemplate(
		`INSERT INTO reads (cid, user_id, last_read_at, last_read_message_id, unread_messages, version) SELECT v.* FROM (VALUES `, 6,
		`) AS v WHERE NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'channel' AND t.key = v.column1 AND t.version >= v.column6)
AND EXISTS (SELECT 1 FROM channels c WHERE c.cid = v.column1)
ON CONFLICT (cid, user_id) DO UPDATE SET
	last_read_at = excluded.last_read_at,
	last_read_message_id = excluded.last_read_message_id,
	unread_messages = excluded.unread_messages,
	version = excluded.version
WHERE excluded.version > reads.version`)

	upsertUser = newTemplate(
		`INSERT INTO users (id, name, image, created_at, updated_at, version, extra) SELECT v.* FROM (VALUES `, 7,
		`) AS v WHERE true
ON CONFLICT (id) DO UPDATE SET
	name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE users.name END,
	image = CASE WHEN excluded.image <> '' THEN excluded.image ELSE users.image END,
	created_at = coalesce(users.created_at, excluded.created_at),
	updated_at = coalesce(excluded.updated_at, users.updated_at),
	version = excluded.version,
	extra = coalesce(excluded.extra, users.extra)
WHERE excluded.version > users.version`)
)

// Deletions: a tombstone at the deleting version, then the delete of
// anything older. Tombstones are of a kind: 'message', 'reaction',
// 'member' and 'channel' keep that row out at or below their version;
// 'truncate' (key the cid) keeps out the channel's messages and
// reactions below its version, the seq of the channel's last truncate;
// a message removed for good gets a 'message' tombstone at removedVersion. Only server data ('sent' rows) goes; an optimistic row the
// outbox still owns stays until its task ends.
const (
	tombstoneSQL = `INSERT INTO tombstones (kind, key, version, cid) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (kind, key) DO UPDATE SET version = max(version, excluded.version)`
	deleteMessageSQL      = `DELETE FROM messages WHERE id = ?1 AND version < ?2`
	deleteMessageReactSQL = `DELETE FROM reactions WHERE message_id = ?1 AND version < ?2`
	deleteReactionSQL     = `DELETE FROM reactions WHERE message_id = ?1 AND user_id = ?2 AND type = ?3 AND version < ?4`
	deleteMemberSQL       = `DELETE FROM members WHERE cid = ?1 AND user_id = ?2 AND version < ?3`
	// A channel whose membership was renewed after the deletion (a re-add
	// at a higher version) stays.
	deleteChannelSQL = `DELETE FROM channels WHERE cid = ?1 AND version < ?2
	AND NOT EXISTS (SELECT 1 FROM members WHERE cid = ?1 AND version > ?2)`
	deleteChanMessagesSQL = `DELETE FROM messages WHERE cid = ?1 AND version < ?2 AND status = 'sent'`
	deleteChanReactsSQL   = `DELETE FROM reactions WHERE cid = ?1 AND version < ?2 AND status = 'sent'`
	// A re-add (a higher version than the removal) lifts the channel's
	// tombstone so its data can come back.
	liftChannelTombstoneSQL = `DELETE FROM tombstones WHERE kind = 'channel' AND key = ?1 AND version < ?2`
	// A truncate at seq T removes the messages of a lower seq (and
	// version: a row without a seq of its own is judged by its version).
	truncateMessagesSQL  = `DELETE FROM messages WHERE cid = ?1 AND seq < ?2 AND version < ?2 AND status = 'sent'`
	truncateReactionsSQL = `DELETE FROM reactions WHERE cid = ?1 AND status = 'sent' AND version < ?2
	AND message_id NOT IN (SELECT id FROM messages WHERE cid = ?1)`
	hideChannelSQL = `UPDATE channels SET hidden = ?2, hidden_version = ?3 WHERE cid = ?1 AND hidden_version < ?3`
)

// removedVersion is the version of the tombstone of a message removed for
// good (a redacted event names it): above every version, since the
// server never stores a removed id again.
const removedVersion = math.MaxInt64

// sep joins the parts of a tombstone key; char(31) in SQL.
const sep = "\x1f"

// EventQueries returns the queries that apply ev, for an app that runs
// them in one transaction with queries of its own (ExecQueries). It does
// no I/O.
//
// An event of an unknown type is ignored: it yields no queries and no
// error, and is counted (IgnoredEvents). Ephemeral events (typing, health
// checks) yield no queries. An event that lacks what its type needs gives
// an *EventError wrapping ErrInvalidEvent.
func (d *DB) EventQueries(ev *protocol.Event) ([]Query, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	return d.queriesFor(ev)
}

// ApplyEvent applies one event in a transaction of its own, as
// EventQueries and ExecQueries would. An event that cannot be applied
// gives its *EventError; an unknown or ephemeral one changes nothing.
func (d *DB) ApplyEvent(ctx context.Context, ev *protocol.Event) error {
	qs, err := d.EventQueries(ev)
	if err != nil || len(qs) == 0 {
		return err
	}
	skipped, err := d.ExecQueries(ctx, qs)
	if err != nil {
		return err
	}
	if len(skipped) > 0 {
		return skipped[0]
	}
	return nil
}

func (d *DB) queriesFor(ev *protocol.Event) ([]Query, error) {
	qs, ignored, err := buildQueries(ev)
	if ignored {
		d.ignored.Add(1)
	}
	return qs, err
}

// buildQueries is queriesFor without the count of ignored events: ignored
// says the event is of a type this store does not know.
func buildQueries(ev *protocol.Event) (qs []Query, ignored bool, err error) {
	if ev == nil {
		return nil, false, &EventError{Err: ErrInvalidEvent}
	}
	if !ev.Type.Known() {
		return nil, true, nil
	}
	if ev.Type.IsEphemeral() {
		return nil, false, nil
	}
	if ev.ID == "" {
		return nil, false, invalidEvent(ev, "no id")
	}
	b := builder{ev: ev}
	if ev.Redacted || ev.Message != nil && ev.Message.Redacted {
		if err := b.redacted(); err != nil {
			return nil, false, err
		}
		return b.done(), false, nil
	}
	switch ev.Type {
	case protocol.EventMessageNew, protocol.EventMessageUpdated, protocol.EventMessageUndeleted:
		err = b.message(ev.Type == protocol.EventMessageUndeleted)
	case protocol.EventMessageDeleted:
		err = b.messageDeleted()
	case protocol.EventReactionNew, protocol.EventReactionUpdated:
		err = b.reaction(false)
	case protocol.EventReactionDeleted:
		err = b.reaction(true)
	case protocol.EventChannelCreated, protocol.EventChannelUpdated:
		err = b.channel()
	case protocol.EventChannelTruncated:
		err = b.channelTruncated()
	case protocol.EventChannelDeleted, protocol.EventNotificationRemovedFromChannel:
		err = b.channelGone()
	case protocol.EventChannelHidden, protocol.EventChannelVisible:
		err = b.channelHidden(ev.Type == protocol.EventChannelHidden)
	case protocol.EventMemberAdded, protocol.EventMemberUpdated:
		err = b.member(false)
	case protocol.EventMemberRemoved:
		err = b.member(true)
	case protocol.EventNotificationAddedToChannel:
		err = b.addedToChannel()
	case protocol.EventMessageRead, protocol.EventNotificationMarkRead, protocol.EventNotificationMarkUnread:
		err = b.read()
	case protocol.EventUserUpdated:
		err = b.user()
	case protocol.EventRecordCreated, protocol.EventRecordUpdated, protocol.EventRecordDeleted:
		err = b.record()
	default:
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b.done(), false, nil
}

// done returns the builder's queries, the first carrying the channel
// bookkeeping.
func (b *builder) done() []Query {
	if b.touch != nil && len(b.qs) > 0 {
		b.qs[0].touch = b.touch
	}
	return b.qs
}

// builder collects the queries of one event.
type builder struct {
	ev    *protocol.Event
	qs    []Query
	touch *channelTouch
}

func (b *builder) add(q Query) { b.qs = append(b.qs, q) }

func (b *builder) exec(sql string, args ...any) {
	b.qs = append(b.qs, Query{SQL: sql, Args: args, EventID: b.ev.ID})
}

func (b *builder) tmpl(t *rowTemplate, args ...any) { b.add(t.query(b.ev.ID, args...)) }

// scope checks the event's channel and version and records the channel
// bookkeeping on the event's first query.
func (b *builder) scope(cid string, entityVersion int64) (string, int64, error) {
	if cid == "" {
		cid = b.ev.CID
	}
	if cid == "" {
		return "", 0, invalidEvent(b.ev, "no cid")
	}
	typ, id, err := protocol.SplitCID(cid)
	if err != nil {
		return "", 0, invalidEvent(b.ev, "%v", err)
	}
	v := entityVersion
	if v <= 0 {
		v = b.ev.Seq
	}
	if v <= 0 {
		return "", 0, invalidEvent(b.ev, "no version and no seq")
	}
	b.touch = &channelTouch{cid: cid, typ: typ, id: id, seq: b.ev.Seq, version: v}
	return cid, v, nil
}
