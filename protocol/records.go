package protocol

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Record is an app's record: one entry of a named collection (tasks,
// notes) in a channel, which is its scope. The channel's members read it,
// its roles and the collection's rules decide who writes it, and its log
// orders every change to it with record.* events. (CID, Collection, ID)
// names it.
//
// Version is the seq, in the channel's log, of the record's last change.
// FieldVersions holds the seq of the last change of each top-level field,
// set or unset: a field absent from Fields but named in FieldVersions was
// unset at that version. A deleted record is a tombstone: Deleted is set,
// Fields and FieldVersions are empty, Version is the seq of the delete.
type Record struct {
	CID        string `json:"cid"`
	Collection string `json:"collection"`
	ID         string `json:"id"`

	Fields        map[string]json.RawMessage `json:"fields"`
	FieldVersions map[string]int64           `json:"field_versions"`

	Version   int64     `json:"version"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Deleted   bool      `json:"deleted,omitempty"`
}

// Limits on records, checked by the server whatever its rules say.
const (
	// MaxRecordBytes is the largest record's fields, as compact JSON,
	// a collection may allow; DefaultMaxRecordBytes the bound of a
	// collection (or of free-form records) that sets none.
	MaxRecordBytes        = 256 << 10
	DefaultMaxRecordBytes = 64 << 10
	// MaxFieldNameBytes is the longest top-level field name.
	MaxFieldNameBytes = 128
)

// ValidateRecordKey checks a record's collection and id: each an
// identifier (ValidateID).
func ValidateRecordKey(collection, id string) error {
	if err := ValidateID("collection", collection); err != nil {
		return err
	}
	return ValidateID("id", id)
}

// ValidateFieldName checks a top-level field name: not empty, at most
// MaxFieldNameBytes bytes.
func ValidateFieldName(name string) error {
	if name == "" {
		return &ValidationError{Field: "field name", Reason: "is empty"}
	}
	if len(name) > MaxFieldNameBytes {
		return &ValidationError{Field: "field name", Reason: fmt.Sprintf("is longer than %d bytes", MaxFieldNameBytes)}
	}
	return nil
}

// FieldNames returns the names of r's fields, sorted.
func (r *Record) FieldNames() []string {
	names := make([]string, 0, len(r.Fields))
	for n := range r.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// CreateRecordRequest is the body of a create-record op: the record's
// fields. A deleted record is created again only with IfVersion naming
// its tombstone's version; a record that was never made takes no
// IfVersion (or 0).
type CreateRecordRequest struct {
	Fields    map[string]json.RawMessage `json:"fields"`
	IfVersion int64                      `json:"if_version,omitempty"`
}

// ReplaceRecordRequest is the body of a replace-record op: the record's
// whole field set. IfVersion, the version the client last saw, is
// required: a blind replace would wipe fields others set.
type ReplaceRecordRequest struct {
	Fields    map[string]json.RawMessage `json:"fields"`
	IfVersion *int64                     `json:"if_version"`
}

// PatchRecordRequest is the body of a patch-record op: top-level fields
// to set (each value replaced whole) and to unset. BaseVersion is the
// record's version the patch was made on, which the collection's
// conflict rule judges it by; IfVersion, if set, must be the record's
// version now.
type PatchRecordRequest struct {
	Set         map[string]json.RawMessage `json:"set,omitempty"`
	Unset       []string                   `json:"unset,omitempty"`
	BaseVersion int64                      `json:"base_version"`
	IfVersion   *int64                     `json:"if_version,omitempty"`
}

// DeleteRecordRequest is the body of a delete-record op. IfVersion is
// required.
type DeleteRecordRequest struct {
	IfVersion *int64 `json:"if_version"`
}

// RecordResponse answers a record write or read.
type RecordResponse struct {
	Record Record `json:"record"`
}

// RecordsResponse answers GET /channels/{cid}/records: a page of the
// channel's live records in (collection, id) order, read in one snapshot
// at Position. Next, if set, is the key to ask for the following page
// (?after=collection/id); pages read later are of later snapshots, and a
// client that syncs from Position then gets every change after it.
type RecordsResponse struct {
	Records  []Record  `json:"records"`
	Position *Position `json:"position"`
	Next     string    `json:"next,omitempty"`
}

// FieldConflict is the conflict of a patch with the record on the
// server, under a collection's refuse rule: the field, the value the
// patch set (null when it unset it) and the server's value (absent when
// the field is unset there), changed at ServerVersion, after the
// patch's base_version.
type FieldConflict struct {
	Field         string          `json:"field"`
	Yours         json.RawMessage `json:"yours"`
	Server        json.RawMessage `json:"server,omitempty"`
	ServerVersion int64           `json:"server_version"`
}
