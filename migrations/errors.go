package migrations

import (
	"errors"
	"fmt"
)

// ErrNewerSchema is wrapped by *NewerSchemaError.
var ErrNewerSchema = errors.New("migrations: database schema is newer than this code")

// ErrBadSet is wrapped by errors about a set that cannot be applied as given:
// gaps or duplicates in its versions, bad file names, an empty name.
var ErrBadSet = errors.New("migrations: invalid migration set")

// NewerSchemaError means the database records a version of a set that the
// code does not know: a newer build of the app wrote it. Nothing was changed.
type NewerSchemaError struct {
	Set       string
	DBVersion int
	Known     int
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("migrations: set %q is at version %d in the database, but this code knows only up to %d; upgrade the app",
		e.Set, e.DBVersion, e.Known)
}

func (e *NewerSchemaError) Unwrap() error { return ErrNewerSchema }

// ChecksumError means a migration already applied to the database has
// different SQL in the code now. Editing an applied migration is a bug: add
// a new one instead.
type ChecksumError struct {
	Set     string
	Version int
	Name    string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("migrations: set %q migration %d (%s) was changed after it was applied; add a new migration instead",
		e.Set, e.Version, e.Name)
}
