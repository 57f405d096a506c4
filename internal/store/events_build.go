package store

import (
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// upsertMessageRow adds the guarded upsert of message m (messageUpsert).
func (b *builder) upsertMessageRow(m *protocol.Message, cid string, version int64, deletedAt any) {
	t, args := b.messageUpsert(m, cid, version, deletedAt)
	b.tmpl(t, args...)
}

// messageUpsert returns the upsert of message m into channel cid at
// version, with its deletion time deletedAt (nil for none, which keeps a
// stored one): plainMessage's short row when that is all m has,
// upsertMessage's whole one otherwise.
func (b *builder) messageUpsert(m *protocol.Message, cid string, version int64, deletedAt any) (*rowTemplate, []any) {
	if deletedAt != nil || len(m.ReactionCounts) > 0 || jsonArg(m.Extra) != nil {
		return upsertMessage, b.messageArgs(m, cid, version, deletedAt)
	}
	created, seq := b.messageTimes(m)
	return plainMessage, []any{m.ID, cid, m.UserID, m.Text, m.ParentID, nanos(created), nanos(m.UpdatedAt), version, seq}
}

// messageArgs are the arguments of upsertMessage and undeleteMessage.
func (b *builder) messageArgs(m *protocol.Message, cid string, version int64, deletedAt any) []any {
	created, seq := b.messageTimes(m)
	// The server's message always carries all its reaction counts, and
	// the wire omits them when there are none: no counts means zero, at
	// this version, not a partial payload.
	var counts any = "{}"
	if m.ReactionCounts != nil {
		counts = countsArg(m.ReactionCounts)
	}
	return []any{m.ID, cid, m.UserID, m.Text, m.ParentID, nanos(created), nanos(m.UpdatedAt),
		deletedAt, counts, version, jsonArg(m.Extra), seq}
}

// messageTimes returns m's creation time and seq, the event's where m
// has none.
func (b *builder) messageTimes(m *protocol.Message) (created time.Time, seq int64) {
	created = m.CreatedAt
	if created.IsZero() {
		created = b.ev.CreatedAt
	}
	seq = m.Seq
	if seq == 0 && b.ev.Type == protocol.EventMessageNew {
		seq = b.ev.Seq // a server that sends no seq of its own
	}
	return created, seq
}

func (b *builder) needMessage() (*protocol.Message, error) {
	m := b.ev.Message
	if m == nil {
		return nil, invalidEvent(b.ev, "no message")
	}
	if m.ID == "" {
		return nil, invalidEvent(b.ev, "message has no id")
	}
	return m, nil
}

func (b *builder) message(undelete bool) error {
	m, err := b.needMessage()
	if err != nil {
		return err
	}
	cid, v, err := b.scope(m.CID, m.Version)
	if err != nil {
		return err
	}
	if undelete {
		b.tmpl(undeleteMessage, b.messageArgs(m, cid, v, nanosPtr(m.DeletedAt))...)
	} else {
		b.upsertMessageRow(m, cid, v, nanosPtr(m.DeletedAt))
	}
	if b.ev.Type == protocol.EventMessageNew {
		created := m.CreatedAt
		if created.IsZero() {
			created = b.ev.CreatedAt
		}
		b.touch.activity = created.UnixNano()
	}
	return nil
}

func (b *builder) messageDeleted() error {
	m, err := b.needMessage()
	if err != nil {
		return err
	}
	cid, v, err := b.scope(m.CID, m.Version)
	if err != nil {
		return err
	}
	if b.ev.HardDelete {
		b.exec(tombstoneSQL, "message", m.ID, v, cid)
		b.exec(deleteMessageSQL, m.ID, v)
		b.exec(deleteMessageReactSQL, m.ID, v)
		return nil
	}
	deleted := m.DeletedAt
	if deleted == nil {
		deleted = &b.ev.CreatedAt
	}
	b.upsertMessageRow(m, cid, v, nanosPtr(deleted))
	return nil
}

// redacted applies an event whose content the server removed for good,
// or that names a message removed for good (protocol.RemovedMessage: a
// hard delete, a replayed answer): the message goes (with its
// reactions), and a tombstone above every version keeps it out, whatever
// arrives later. A redacted event that names no message changes nothing.
func (b *builder) redacted() error {
	m := b.ev.Message
	if m == nil || m.ID == "" {
		return nil
	}
	cid, _, err := b.scope(m.CID, m.Version)
	if err != nil {
		return err
	}
	b.exec(tombstoneSQL, "message", m.ID, int64(removedVersion), cid)
	b.exec(deleteMessageSQL, m.ID, int64(removedVersion))
	b.exec(deleteMessageReactSQL, m.ID, int64(removedVersion))
	return nil
}

func (b *builder) reaction(deleted bool) error {
	r := b.ev.Reaction
	if r == nil {
		return invalidEvent(b.ev, "no reaction")
	}
	if r.MessageID == "" || r.UserID == "" || r.Type == "" {
		return invalidEvent(b.ev, "reaction needs message_id, user_id and type")
	}
	cid, v, err := b.scope(r.CID, r.Version)
	if err != nil {
		return err
	}
	if deleted {
		b.exec(tombstoneSQL, "reaction", r.MessageID+sep+r.UserID+sep+r.Type, v, cid)
		b.exec(deleteReactionSQL, r.MessageID, r.UserID, r.Type, v)
	} else {
		created := r.CreatedAt
		if created.IsZero() {
			created = b.ev.CreatedAt
		}
		b.tmpl(upsertReaction, r.MessageID, r.UserID, r.Type, cid, r.Score, nanos(created),
			nanos(r.UpdatedAt), v, jsonArg(r.Extra))
	}
	// The message carries the new reaction counts.
	if m := b.ev.Message; m != nil && m.ID != "" {
		mv := m.Version
		if mv <= 0 {
			mv = v
		}
		b.upsertMessageRow(m, cid, mv, nanosPtr(m.DeletedAt))
	}
	return nil
}

func (b *builder) channelArgs(c *protocol.Channel, cid string, v int64) []any {
	typ, id, _ := protocol.SplitCID(cid)
	return []any{cid, typ, id, c.Name, c.CreatedBy, nanos(c.CreatedAt), nanos(c.UpdatedAt),
		nanosPtr(c.DeletedAt), nanosPtr(c.TruncatedAt), nanosPtr(c.LastMessageAt), c.MemberCount, v, jsonArg(c.Extra)}
}

func (b *builder) channel() error {
	c := b.ev.Channel
	if c == nil {
		return invalidEvent(b.ev, "no channel")
	}
	cid, v, err := b.scope(c.CID, c.Version)
	if err != nil {
		return err
	}
	b.channelRow(c, cid, v)
	return nil
}

// channelRow upserts the channel at version v and, when it says where
// its last truncate stands, the 'truncate' tombstone there.
func (b *builder) channelRow(c *protocol.Channel, cid string, v int64) {
	b.tmpl(upsertChannel, b.channelArgs(c, cid, v)...)
	if c.TruncatedSeq > 0 {
		b.exec(tombstoneSQL, "truncate", cid, c.TruncatedSeq, cid)
	}
}

// channelData upserts the channel when the event carries it (member
// counts, say), at the channel's own version.
func (b *builder) channelData(cid string) {
	if c := b.ev.Channel; c != nil && c.Version > 0 {
		b.channelRow(c, cid, c.Version)
	}
}

func (b *builder) channelTruncated() error {
	var c protocol.Channel
	if b.ev.Channel != nil {
		c = *b.ev.Channel
	}
	cid, v, err := b.scope(c.CID, 0)
	if err != nil {
		return err
	}
	// The truncate's seq decides what it removed: every message of a
	// lower seq. Its time is for display.
	if c.TruncatedAt == nil {
		c.TruncatedAt = &b.ev.CreatedAt
	}
	if c.TruncatedSeq <= 0 {
		c.TruncatedSeq = v
	}
	c.Version = v
	b.channelRow(&c, cid, v)
	b.exec(truncateMessagesSQL, cid, c.TruncatedSeq)
	b.exec(truncateReactionsSQL, cid, c.TruncatedSeq)
	return nil
}

// channelGone applies channel.deleted, and
// notification.removed_from_channel: either way the channel's cached data
// goes and a tombstone keeps it from coming back at an older version.
func (b *builder) channelGone() error {
	var cid string
	var ver int64
	if c := b.ev.Channel; c != nil {
		cid, ver = c.CID, c.Version
	}
	if m := b.ev.Member; m != nil {
		if cid == "" {
			cid = m.CID
		}
		ver = m.Version
	}
	cid, v, err := b.scope(cid, ver)
	if err != nil {
		return err
	}
	b.exec(tombstoneSQL, "channel", cid, v, cid)
	b.exec(deleteChannelSQL, cid, v)
	b.exec(deleteChanMessagesSQL, cid, v)
	b.exec(deleteChanReactsSQL, cid, v)
	b.exec(deleteChanRecordsSQL, cid)
	return nil
}

func (b *builder) channelHidden(hidden bool) error {
	var cid string
	if c := b.ev.Channel; c != nil {
		cid = c.CID
	}
	cid, v, err := b.scope(cid, 0)
	if err != nil {
		return err
	}
	b.exec(hideChannelSQL, cid, boolInt(hidden), v)
	return nil
}

func (b *builder) needMember() (*protocol.Member, error) {
	m := b.ev.Member
	if m == nil {
		return nil, invalidEvent(b.ev, "no member")
	}
	if m.UserID == "" {
		return nil, invalidEvent(b.ev, "member has no user_id")
	}
	return m, nil
}

func (b *builder) memberArgs(m *protocol.Member, cid string, v int64) []any {
	created := m.CreatedAt
	if created.IsZero() {
		created = b.ev.CreatedAt
	}
	return []any{cid, m.UserID, m.Role, nanos(created), nanos(m.UpdatedAt), v}
}

func (b *builder) member(removed bool) error {
	m, err := b.needMember()
	if err != nil {
		return err
	}
	cid, v, err := b.scope(m.CID, m.Version)
	if err != nil {
		return err
	}
	if removed {
		b.exec(tombstoneSQL, "member", cid+sep+m.UserID, v, cid)
		b.exec(deleteMemberSQL, cid, m.UserID, v)
	} else {
		b.tmpl(upsertMember, b.memberArgs(m, cid, v)...)
	}
	if m.User != nil {
		b.userRow(m.User)
	}
	b.channelData(cid)
	return nil
}

func (b *builder) addedToChannel() error {
	m, err := b.needMember()
	if err != nil {
		return err
	}
	cid, v, err := b.scope(m.CID, m.Version)
	if err != nil {
		return err
	}
	// The tombstone goes before the stub channel row is made, so the
	// channel can come back; the stub runs first in a batch, hence the
	// explicit upsert of a minimal channel row after it.
	b.exec(liftChannelTombstoneSQL, cid, v)
	c := protocol.Channel{CID: cid}
	if b.ev.Channel != nil {
		c = *b.ev.Channel
	}
	cv := c.Version
	if cv <= 0 {
		cv = v
	}
	b.channelRow(&c, cid, cv)
	b.tmpl(upsertMember, b.memberArgs(m, cid, v)...)
	return nil
}

func (b *builder) read() error {
	r := b.ev.Read
	if r == nil {
		return invalidEvent(b.ev, "no read")
	}
	userID := r.UserID
	if userID == "" {
		userID = b.ev.UserID
	}
	if userID == "" {
		return invalidEvent(b.ev, "read has no user_id")
	}
	cid, v, err := b.scope(r.CID, r.Version)
	if err != nil {
		return err
	}
	at := r.LastReadAt
	if at.IsZero() {
		at = b.ev.CreatedAt
	}
	b.tmpl(upsertRead, cid, userID, nanos(at), r.LastReadMessageID, r.UnreadMessages, v)
	return nil
}

func (b *builder) userRow(u *protocol.User) {
	if u.ID == "" || u.Version <= 0 {
		return
	}
	b.tmpl(upsertUser, u.ID, u.Name, u.Image, nanos(u.CreatedAt), nanos(u.UpdatedAt), u.Version, jsonArg(u.Extra))
}

func (b *builder) user() error {
	u := b.ev.User
	if u == nil || u.ID == "" {
		return invalidEvent(b.ev, "no user id")
	}
	if u.Version <= 0 {
		return invalidEvent(b.ev, "user has no version")
	}
	b.userRow(u)
	return nil
}
