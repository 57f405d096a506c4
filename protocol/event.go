package protocol

import (
	"slices"
	"time"
)

// EventType names what an Event says happened.
type EventType string

// Event types the server stores in a channel's log and returns from sync.
const (
	EventMessageNew       EventType = "message.new"
	EventMessageUpdated   EventType = "message.updated"
	EventMessageDeleted   EventType = "message.deleted"
	EventMessageUndeleted EventType = "message.undeleted"

	EventReactionNew     EventType = "reaction.new"
	EventReactionUpdated EventType = "reaction.updated"
	EventReactionDeleted EventType = "reaction.deleted"

	EventChannelCreated   EventType = "channel.created"
	EventChannelUpdated   EventType = "channel.updated"
	EventChannelDeleted   EventType = "channel.deleted"
	EventChannelTruncated EventType = "channel.truncated"
	EventChannelHidden    EventType = "channel.hidden"
	EventChannelVisible   EventType = "channel.visible"

	EventMemberAdded   EventType = "member.added"
	EventMemberUpdated EventType = "member.updated"
	EventMemberRemoved EventType = "member.removed"

	EventMessageRead            EventType = "message.read"
	EventNotificationMarkRead   EventType = "notification.mark_read"
	EventNotificationMarkUnread EventType = "notification.mark_unread"

	EventNotificationAddedToChannel     EventType = "notification.added_to_channel"
	EventNotificationRemovedFromChannel EventType = "notification.removed_from_channel"

	EventUserUpdated EventType = "user.updated"

	// Record events carry the record as it is after the write (a
	// tombstone for record.deleted) and the names of the fields the
	// write changed. A create of a deleted record is a record.created.
	EventRecordCreated EventType = "record.created"
	EventRecordUpdated EventType = "record.updated"
	EventRecordDeleted EventType = "record.deleted"
)

// Ephemeral event types: fanned out live, never stored, never returned by
// sync.
const (
	EventTypingStart EventType = "typing.start"
	EventTypingStop  EventType = "typing.stop"
)

// EventHealthCheck is the server's keep-alive over the WebSocket; the first
// one of a connection carries its ConnectionID and the server's Hello. (The client SDK's own
// connection events are the client package's.)
const EventHealthCheck EventType = "health.check"

// EventTypes returns every event type this package defines, stored,
// ephemeral and health.check alike, in a new slice.
func EventTypes() []EventType { return slices.Clone(allEventTypes) }

var allEventTypes = []EventType{
	EventMessageNew, EventMessageUpdated, EventMessageDeleted, EventMessageUndeleted,
	EventReactionNew, EventReactionUpdated, EventReactionDeleted,
	EventChannelCreated, EventChannelUpdated, EventChannelDeleted, EventChannelTruncated,
	EventChannelHidden, EventChannelVisible,
	EventMemberAdded, EventMemberUpdated, EventMemberRemoved,
	EventMessageRead, EventNotificationMarkRead, EventNotificationMarkUnread,
	EventNotificationAddedToChannel, EventNotificationRemovedFromChannel,
	EventUserUpdated,
	EventRecordCreated, EventRecordUpdated, EventRecordDeleted,
	EventTypingStart, EventTypingStop,
	EventHealthCheck,
}

// IsEphemeral reports whether events of type t are delivered live only: the
// server never stores them and sync never returns them.
func (t EventType) IsEphemeral() bool {
	switch t {
	case EventTypingStart, EventTypingStop, EventHealthCheck:
		return true
	}
	return false
}

// InFeed reports whether events of type t go to a user's membership feed
// (see FeedPage) rather than to a channel's log: their Seq and Epoch, when
// set, are a place in the feed. Events of other types that carry a Seq
// are in their channel's log.
func (t EventType) InFeed() bool {
	switch t {
	case EventNotificationAddedToChannel, EventNotificationRemovedFromChannel,
		EventChannelHidden, EventChannelVisible, EventUserUpdated:
		return true
	}
	return false
}

// Known reports whether t is one of the types this package defines.
func (t EventType) Known() bool {
	return slices.Contains(allEventTypes, t)
}

// Event is one thing that happened, as the server stores it in a channel's
// log and sends it over the WebSocket and in sync pages.
//
// ID is unique across the server. Seq numbers the events of one channel from
// 1 in the order they were committed, and Epoch names that history (see
// Position); feed events (notification.*, channel.hidden/visible,
// user.updated) carry their place in the user's membership feed instead.
// Seq is zero for ephemeral and connection events. CreatedAt is server
// time, for display only: positions, never times, decide what was seen.
//
// Which entity fields are set depends on Type: message events carry Message,
// reaction events Reaction and Message (the message reacted to), member and
// notification events Member and Channel, read events Read, channel events
// Channel, user.updated User, record events Record and Changed.
type Event struct {
	ID   string    `json:"id"`
	Type EventType `json:"type"`
	CID  string    `json:"cid,omitempty"`
	Seq  int64     `json:"seq,omitempty"`
	// Epoch is the epoch of the log Seq is a place in (see Position).
	Epoch     string    `json:"epoch,omitempty"`
	CreatedAt time.Time `json:"created_at"`

	// UserID is the user whose action made the event, when there is one.
	UserID string `json:"user_id,omitempty"`

	Channel  *Channel  `json:"channel,omitempty"`
	Message  *Message  `json:"message,omitempty"`
	Reaction *Reaction `json:"reaction,omitempty"`
	Member   *Member   `json:"member,omitempty"`
	Read     *Read     `json:"read,omitempty"`
	User     *User     `json:"user,omitempty"`
	Record   *Record   `json:"record,omitempty"`

	// Changed names, sorted, the top-level fields a record event's write
	// set or unset (every field of the record, on a create).
	Changed []string `json:"changed,omitempty"`

	// HardDelete is set on message.deleted when the message is gone for
	// good rather than soft-deleted (kept with DeletedAt set). Such an
	// event carries the message's id, channel and version alone.
	HardDelete bool `json:"hard_delete,omitempty"`

	// Redacted marks a stored event whose content was removed for good
	// (a hard delete or a truncate of its message): it keeps its place
	// (ID, Type, CID, Seq, Epoch, CreatedAt) and names the message
	// removed (Message, a RemovedMessage), and carries nothing else. A
	// client applies it by dropping that message, never by storing what
	// the event once carried (see Redact).
	Redacted bool `json:"redacted,omitempty"`

	// ConnectionID is set on the first health.check of a WebSocket
	// connection.
	ConnectionID string `json:"connection_id,omitempty"`
	// Hello is set on the first health.check of a WebSocket connection:
	// the server's identity and settings (see Hello).
	Hello *Hello `json:"hello,omitempty"`
}

// RemovedMessage is what the wire keeps of a message removed for good (a
// hard delete or a truncate): its id, channel and version, and the
// Redacted mark.
func RemovedMessage(m *Message) *Message {
	return &Message{ID: m.ID, CID: m.CID, Version: m.Version, Redacted: true}
}

// Redact returns ev as a log keeps it once the message it carries is
// removed for good: its place in the log (ID, Type, CID, Seq, Epoch,
// CreatedAt), the removed message's id and channel, and the Redacted
// mark. Reaction events name the message reacted to.
func (ev Event) Redact() Event {
	out := Event{ID: ev.ID, Type: ev.Type, CID: ev.CID, Seq: ev.Seq, Epoch: ev.Epoch, CreatedAt: ev.CreatedAt, Redacted: true}
	switch {
	case ev.Message != nil:
		out.Message = RemovedMessage(ev.Message)
	case ev.Reaction != nil:
		out.Message = RemovedMessage(&Message{ID: ev.Reaction.MessageID, CID: ev.Reaction.CID})
	}
	return out
}

// ContentOf returns the id of the message whose content ev carries, the
// message a removal redacts it for: "" for an event that carries none (of
// another kind, redacted already, or a hard delete, which carries the
// removed message's id alone).
func (ev Event) ContentOf() string {
	switch {
	case ev.Redacted, ev.HardDelete, ev.Message != nil && ev.Message.Redacted:
		return ""
	case ev.Message != nil:
		return ev.Message.ID
	case ev.Reaction != nil:
		return ev.Reaction.MessageID
	}
	return ""
}
