package offlinedb

import (
	"errors"
	"fmt"

	"github.com/outpostsync/outpost/protocol"
)

var (
	// ErrClosed is returned by calls on a closed DB.
	ErrClosed = errors.New("offlinedb: closed")
	// ErrNotDatabase is wrapped by *OpenError when the file is not a SQLite
	// database, or is corrupt.
	ErrNotDatabase = errors.New("offlinedb: file is not a usable SQLite database")
	// ErrNotWritable is wrapped by *OpenError when the store cannot be
	// written: its disk is read-only, or its file or folder belongs to
	// another user.
	ErrNotWritable = errors.New("offlinedb: store not writable (read-only disk, or another user's file)")
	// ErrPragma is wrapped when a pragma does not read back as set.
	ErrPragma = errors.New("offlinedb: pragma not in effect")
	// ErrTaskNotFound is returned for a pending or failed task id the store
	// does not hold.
	ErrTaskNotFound = errors.New("offlinedb: task not found")
	// ErrInvalidTask is wrapped by errors about a task that cannot be
	// queued as given.
	ErrInvalidTask = errors.New("offlinedb: invalid task")
	// ErrInvalidEvent is wrapped by *EventError when an event lacks what its
	// type needs (an entity, an id, a version).
	ErrInvalidEvent = errors.New("offlinedb: invalid event")
)

// OpenError is returned by Open when the file cannot be used as a store.
// Path is the file; MovedTo is where it was moved when Options.MoveAside was
// set (and a fresh store was created in its place).
type OpenError struct {
	Path    string
	MovedTo string
	Err     error
}

func (e *OpenError) Error() string {
	if e.MovedTo != "" {
		return fmt.Sprintf("offlinedb: open %s: %v (moved aside to %s)", e.Path, e.Err, e.MovedTo)
	}
	return fmt.Sprintf("offlinedb: open %s: %v", e.Path, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

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
