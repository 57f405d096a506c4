package offlinedb

import (
	"errors"
	"fmt"
)

var (
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
)

var (
	// ErrNotFound is returned when a row asked for by id is not in the
	// store.
	ErrNotFound = errors.New("offlinedb: not found")
	// ErrInvalidCursor is wrapped by the error of a ChannelsQuery.After
	// that no Channel.Cursor made.
	ErrInvalidCursor = errors.New("offlinedb: invalid cursor")
	// ErrInvalidQuery is wrapped by the error of a records query or
	// index declaration the store cannot run: a field name that is not
	// a plain name, an unknown index type, a bad cursor.
	ErrInvalidQuery = errors.New("offlinedb: invalid records query")
)

// ErrIdentityMismatch is matched (errors.Is) by *IdentityError.
var ErrIdentityMismatch = errors.New("offlinedb: store bound to another identity")

// IdentityError is returned when the store holds the data of another
// user than the one asked for (Open, Bind), or is bound to another server
// than the one met (Field "server").
type IdentityError struct {
	// Field is "user" or "server".
	Field string
	// Stored is the store's user or server; Want the one asked for.
	Stored, Want string
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("offlinedb: the store holds the data of %s %q, not %q", e.Field, e.Stored, e.Want)
}

// Is makes errors.Is(err, ErrIdentityMismatch) true.
func (e *IdentityError) Is(target error) bool { return target == ErrIdentityMismatch }

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
