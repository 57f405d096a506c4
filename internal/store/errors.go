package store

import (
	"errors"
	"fmt"

	"github.com/outpostsync/outpost/internal/closed"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

var (
	ErrNotDatabase      = offlinedb.ErrNotDatabase
	ErrNotWritable      = offlinedb.ErrNotWritable
	ErrPragma           = offlinedb.ErrPragma
	ErrTaskNotFound     = offlinedb.ErrTaskNotFound
	ErrInvalidTask      = offlinedb.ErrInvalidTask
	ErrNotFound         = offlinedb.ErrNotFound
	ErrInvalidCursor    = offlinedb.ErrInvalidCursor
	ErrInvalidQuery     = offlinedb.ErrInvalidQuery
	ErrIdentityMismatch = offlinedb.ErrIdentityMismatch

	// ErrClosed is returned by calls on a closed DB.
	ErrClosed = closed.Err

	// ErrInvalidEvent is wrapped by *EventError when an event lacks what its
	// type needs (an entity, an id, a version).
	ErrInvalidEvent = errors.New("offlinedb: invalid event")
)

// The store's types an app sees are defined in package offlinedb; these
// aliases let the engine name them as its own.
type (
	Options       = offlinedb.Options
	OpenError     = offlinedb.OpenError
	IdentityError = offlinedb.IdentityError
	MessageStatus = offlinedb.MessageStatus
	Message       = offlinedb.Message
	Reaction      = offlinedb.Reaction
	Channel       = offlinedb.Channel
	ChannelsQuery = offlinedb.ChannelsQuery
	MessagesQuery = offlinedb.MessagesQuery
	PendingTask   = offlinedb.PendingTask
	FailedTask    = offlinedb.FailedTask
	Record        = offlinedb.Record
	RecordKey     = offlinedb.RecordKey
	FieldFilter   = offlinedb.FieldFilter
	Index         = offlinedb.Index
	Held          = offlinedb.Held
)

// Local row states.
const (
	StatusSent    = offlinedb.StatusSent
	StatusPending = offlinedb.StatusPending
	StatusFailed  = offlinedb.StatusFailed
)

// EventError says why one event of a batch was not applied.
type EventError struct {
	EventID string
	Type    protocol.EventType
	Err     error
}

func (e *EventError) Error() string {
	return fmt.Sprintf("offlinedb: event %q (%s): %v", e.EventID, e.Type, e.Err)
}

func (e *EventError) Unwrap() error { return e.Err }

func invalidEvent(ev *protocol.Event, format string, args ...any) error {
	return &EventError{EventID: ev.ID, Type: ev.Type,
		Err: fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))}
}
