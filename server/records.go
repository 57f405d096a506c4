package server

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/outpostsync/outpost/protocol"
)

// RecordWrite is a record write as Config.RecordCheck sees it, in the
// write's transaction, after the collection's rules passed it and before
// it commits.
type RecordWrite struct {
	Op   protocol.BatchOpType // OpCreateRecord, OpReplaceRecord, OpPatchRecord or OpDeleteRecord
	CID  string
	User string
	Role string // the user's role in the channel
	// Before is the record as stored, nil for the create of a record
	// never made (a re-create's Before is the tombstone).
	Before *protocol.Record
	// After is the record the write would store: a tombstone for a
	// delete. Its versions are those the write takes.
	After protocol.Record
	// Changed names the fields the write sets or unsets, sorted.
	Changed []string
}

// RefusedError is what a RecordCheck returns to refuse a write with a
// JSON path; any other error refuses it too (403, code 17, its text the
// reason).
type RefusedError struct {
	Path   string // JSON Pointer in the request body, such as "/fields/title"
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

// recordError is an APIError of a record write: its path in the request
// and, when the record exists, the server's record.
func recordError(code int, path string, rec *protocol.Record, format string, args ...any) *protocol.APIError {
	e := protocol.NewAPIError(code, format, args...)
	e.Path, e.Record = path, rec
	return e
}

// pointerEscape escapes one JSON Pointer token (RFC 6901).
func pointerEscape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

func fieldPath(name string) string { return "/fields/" + pointerEscape(name) }

// recordTarget is the record a write names.
type recordTarget struct {
	cid, collection, id string
}

func (t recordTarget) check() error {
	if err := protocol.ValidateCID(t.cid); err != nil {
		return recordError(protocol.CodeInput, "/cid", nil, "%v", err)
	}
	if err := protocol.ValidateID("collection", t.collection); err != nil {
		return recordError(protocol.CodeInput, "/collection", nil, "%v", err)
	}
	if err := protocol.ValidateID("record id", t.id); err != nil {
		return recordError(protocol.CodeInput, "/id", nil, "%v", err)
	}
	return nil
}

// compactFields checks a field set (names, JSON values under the
// protocol's bound) and returns it with each value compacted, so that
// equal values are equal bytes. base is the set's path in the request.
func compactFields(base string, fields map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(fields))
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		path := base + "/" + pointerEscape(name)
		if err := protocol.ValidateFieldName(name); err != nil {
			return nil, recordError(protocol.CodeInput, path, nil, "%v", err)
		}
		v := fields[name]
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil || buf.Len() == 0 {
			return nil, recordError(protocol.CodeInput, path, nil, "is not a JSON value")
		}
		if buf.Len() > protocol.MaxRecordBytes {
			return nil, recordError(protocol.CodePayloadTooBig, path, nil, "is %d bytes, over the largest record of %d bytes", buf.Len(), protocol.MaxRecordBytes)
		}
		out[name] = buf.Bytes()
	}
	return out, nil
}

// recordStep is what a kind of record write does to the stored record:
// it returns the fields after the write and the names of those it sets or
// unsets, or refuses.
type recordStep struct {
	op  protocol.BatchOpType
	ev  protocol.EventType // the event it appends
	who func(c *compiledCollection) Who
	// apply gets the stored record (nil if none) and the collection's
	// rules, and returns the record's fields after the write (nil for a
	// delete) and what it changed.
	apply func(old *protocol.Record, coll *compiledCollection) (fields map[string]json.RawMessage, changed []string, err error)
}

// planRecordWrite returns the op of a record write: in the transaction,
// it checks membership, the rules in force, the step's own conditions,
// the schema, the size bound and the RecordCheck hook, then appends the
// event and stores the record.
func planRecordWrite(user string, t recordTarget, status int, step recordStep) (op, error) {
	if err := t.check(); err != nil {
		return op{}, err
	}
	return op{status: status, apply: func(c *change) (any, error) {
		ch, m, err := channelMember(c.tx, t.cid, user)
		if err != nil {
			return nil, err
		}
		rules, err := c.srv.rules.current(c.tx)
		if err != nil {
			return nil, err
		}
		coll, err := rules.collection(t.collection)
		if err != nil {
			return nil, err
		}
		var old *protocol.Record
		if r, err := c.tx.Record(ch.CID, t.collection, t.id); err == nil {
			old = &r
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		fields, changed, err := step.apply(old, coll)
		if err != nil {
			return nil, err
		}
		role := roleOf(m)
		creator := old != nil && !old.Deleted && old.CreatedBy == user
		if who := step.who(coll); !who.allows(role, creator) {
			return nil, recordError(protocol.CodeNotAllowed, "/collection", old, "a channel %s may not %s a record of %s (its rules: %s)",
				role, strings.TrimSuffix(string(step.op), "-record"), t.collection, cmp.Or(who, WhoMember))
		}
		rec := nextRecord(c.tx, user, ch.CID, t, old, fields, changed)
		if fields != nil {
			if err := checkRecordSize(coll, fields, old); err != nil {
				return nil, err
			}
			if err := coll.validate(fields); err != nil {
				err.(*protocol.APIError).Record = old
				return nil, err
			}
		}
		if check := c.srv.cfg.RecordCheck; check != nil {
			st, err := c.tx.ChannelLog(ch.CID)
			if err != nil {
				return nil, err
			}
			after := rec
			setVersions(&after, st.LastSeq+1, changed)
			if err := check(RecordWrite{Op: step.op, CID: ch.CID, User: user, Role: role, Before: old,
				After: after, Changed: changed}); err != nil {
				return nil, refusal(err, old)
			}
		}
		_, err = c.emit(ch.CID, step.ev, user, func(ev *protocol.Event) error {
			setVersions(&rec, ev.Seq, changed)
			ev.Record, ev.Changed = &rec, changed
			return c.tx.PutRecord(rec)
		})
		if err != nil {
			return nil, err
		}
		return protocol.RecordResponse{Record: rec}, nil
	}}, nil
}

// refusal turns the RecordCheck hook's error into the 403 it answers.
func refusal(err error, old *protocol.Record) error {
	if ae, ok := protocol.AsAPIError(err); ok {
		if ae.Record == nil {
			ae.Record = old
		}
		return ae
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return recordError(protocol.CodeNotAllowed, re.Path, old, "refused: %s", re.Reason)
	}
	return recordError(protocol.CodeNotAllowed, "", old, "refused: %v", err)
}

// nextRecord is the record after a write, its versions still to set:
// fields nil makes a tombstone; a create (of a new record, or of a
// tombstone) begins a new life.
func nextRecord(tx Tx, user, cid string, t recordTarget, old *protocol.Record, fields map[string]json.RawMessage, changed []string) protocol.Record {
	now := tx.Now()
	rec := protocol.Record{CID: cid, Collection: t.collection, ID: t.id, CreatedBy: user, CreatedAt: now,
		UpdatedBy: user, UpdatedAt: now, FieldVersions: map[string]int64{}}
	if old != nil && !old.Deleted {
		rec.CreatedBy, rec.CreatedAt = old.CreatedBy, old.CreatedAt
		maps.Copy(rec.FieldVersions, old.FieldVersions)
	}
	if fields == nil {
		rec.Deleted, rec.Fields, rec.FieldVersions = true, map[string]json.RawMessage{}, map[string]int64{}
		return rec
	}
	rec.Fields = fields
	return rec
}

// setVersions gives rec and its changed fields the version seq.
func setVersions(rec *protocol.Record, seq int64, changed []string) {
	rec.Version = seq
	if rec.Deleted {
		return
	}
	rec.FieldVersions = maps.Clone(rec.FieldVersions)
	for _, f := range changed {
		rec.FieldVersions[f] = seq
	}
}

// checkRecordSize refuses fields over the collection's bound: the first
// field that alone is over it by its path, else the record.
func checkRecordSize(coll *compiledCollection, fields map[string]json.RawMessage, old *protocol.Record) error {
	limit := coll.MaxRecordBytes
	n := 2 // {}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		size := len(strconv.Quote(name)) + 1 + len(fields[name]) // "name":value
		if size+2 > limit {
			return recordError(protocol.CodePayloadTooBig, fieldPath(name), old, "field %q is %d bytes, over the record bound of %d bytes", name, size, limit)
		}
		n += size + 1
	}
	if n-1 > limit && len(fields) > 0 {
		return recordError(protocol.CodePayloadTooBig, "/fields", old, "the record's fields are %d bytes, over the bound of %d bytes", n-1, limit)
	}
	return nil
}

// changedFields returns the names of the fields whose value differs
// between a and b (absent in one counts), sorted.
func changedFields(a, b map[string]json.RawMessage) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// mustExist refuses a write of a record that does not exist or is a
// tombstone.
func mustExist(old *protocol.Record) error {
	if old == nil {
		return recordError(protocol.CodeNotFound, "/id", nil, "the record does not exist")
	}
	if old.Deleted {
		return recordError(protocol.CodeNotFound, "/id", old, "the record was deleted at version %d", old.Version)
	}
	return nil
}

// ifVersion checks a required (or, with optional, an optional)
// precondition against the stored record.
func ifVersion(v *int64, optional bool, old *protocol.Record) error {
	if v == nil {
		if optional {
			return nil
		}
		return recordError(protocol.CodeInput, "/if_version", old, "is required: the version of the record the write was made on")
	}
	if *v != old.Version {
		return recordError(protocol.CodePreconditionFailed, "/if_version", old, "is %d, but the record is at version %d", *v, old.Version)
	}
	return nil
}

func whoCreate(c *compiledCollection) Who { return c.Create }
func whoUpdate(c *compiledCollection) Who { return c.Update }
func whoDelete(c *compiledCollection) Who { return c.Delete }

func planCreateRecord(user string, t recordTarget, req protocol.CreateRecordRequest) (op, error) {
	if req.Fields == nil {
		return op{}, recordError(protocol.CodeInput, "/fields", nil, "is missing: a record's fields are a JSON object")
	}
	if req.IfVersion < 0 {
		return op{}, recordError(protocol.CodeInput, "/if_version", nil, "is negative")
	}
	fields, err := compactFields("/fields", req.Fields)
	if err != nil {
		return op{}, err
	}
	return planRecordWrite(user, t, http.StatusCreated, recordStep{op: protocol.OpCreateRecord, ev: protocol.EventRecordCreated, who: whoCreate,
		apply: func(old *protocol.Record, _ *compiledCollection) (map[string]json.RawMessage, []string, error) {
			switch {
			case old != nil && !old.Deleted:
				return nil, nil, recordError(protocol.CodeConflict, "/id", old, "the record exists (version %d)", old.Version)
			case old != nil && req.IfVersion == 0:
				return nil, nil, recordError(protocol.CodeConflict, "/if_version", old,
					"the record was deleted at version %d: to create it again, give if_version %d", old.Version, old.Version)
			case old != nil && req.IfVersion != old.Version:
				return nil, nil, recordError(protocol.CodePreconditionFailed, "/if_version", old,
					"is %d, but the record's tombstone is at version %d", req.IfVersion, old.Version)
			case old == nil && req.IfVersion != 0:
				return nil, nil, recordError(protocol.CodePreconditionFailed, "/if_version", nil, "is %d, but the record was never made", req.IfVersion)
			}
			return fields, changedFields(fields, nil), nil
		}})
}

func planReplaceRecord(user string, t recordTarget, req protocol.ReplaceRecordRequest) (op, error) {
	if req.Fields == nil {
		return op{}, recordError(protocol.CodeInput, "/fields", nil, "is missing: a record's fields are a JSON object")
	}
	if req.IfVersion == nil {
		return op{}, recordError(protocol.CodeInput, "/if_version", nil, "is required: a replace without it would wipe fields others set")
	}
	fields, err := compactFields("/fields", req.Fields)
	if err != nil {
		return op{}, err
	}
	return planRecordWrite(user, t, http.StatusOK, recordStep{op: protocol.OpReplaceRecord, ev: protocol.EventRecordUpdated, who: whoUpdate,
		apply: func(old *protocol.Record, _ *compiledCollection) (map[string]json.RawMessage, []string, error) {
			if err := mustExist(old); err != nil {
				return nil, nil, err
			}
			if err := ifVersion(req.IfVersion, false, old); err != nil {
				return nil, nil, err
			}
			return fields, changedFields(fields, old.Fields), nil
		}})
}

func planPatchRecord(user string, t recordTarget, req protocol.PatchRecordRequest) (op, error) {
	if len(req.Set) == 0 && len(req.Unset) == 0 {
		return op{}, recordError(protocol.CodeInput, "/set", nil, "the patch sets and unsets nothing")
	}
	if req.BaseVersion < 0 {
		return op{}, recordError(protocol.CodeInput, "/base_version", nil, "is negative")
	}
	set, err := compactFields("/set", req.Set)
	if err != nil {
		return op{}, err
	}
	unset := map[string]int{} // name -> index in req.Unset
	for i, name := range req.Unset {
		path := "/unset/" + strconv.Itoa(i)
		if err := protocol.ValidateFieldName(name); err != nil {
			return op{}, recordError(protocol.CodeInput, path, nil, "%v", err)
		}
		if _, dup := unset[name]; dup {
			return op{}, recordError(protocol.CodeInput, path, nil, "field %q is unset twice", name)
		}
		if _, both := set[name]; both {
			return op{}, recordError(protocol.CodeInput, path, nil, "field %q is both set and unset", name)
		}
		unset[name] = i
	}
	return planRecordWrite(user, t, http.StatusOK, recordStep{op: protocol.OpPatchRecord, ev: protocol.EventRecordUpdated, who: whoUpdate,
		apply: func(old *protocol.Record, coll *compiledCollection) (map[string]json.RawMessage, []string, error) {
			if err := mustExist(old); err != nil {
				return nil, nil, err
			}
			if err := ifVersion(req.IfVersion, true, old); err != nil {
				return nil, nil, err
			}
			if req.BaseVersion > old.Version {
				return nil, nil, recordError(protocol.CodeInput, "/base_version", old, "is %d, after the record's version %d", req.BaseVersion, old.Version)
			}
			if coll.Conflict == ConflictRefuse {
				if err := patchConflict(old, req.BaseVersion, set, unset); err != nil {
					return nil, nil, err
				}
			}
			fields := maps.Clone(old.Fields)
			if fields == nil {
				fields = map[string]json.RawMessage{}
			}
			maps.Copy(fields, set)
			for name := range unset {
				delete(fields, name)
			}
			return fields, changedFields(fields, old.Fields), nil
		}})
}

// patchConflict refuses a patch that sets or unsets a field changed after
// its base version, naming the first such field (by name) with both
// values.
func patchConflict(old *protocol.Record, base int64, set map[string]json.RawMessage, unset map[string]int) error {
	names := slices.Sorted(maps.Keys(set))
	names = append(names, slices.Sorted(maps.Keys(unset))...)
	for _, name := range names {
		fv := old.FieldVersions[name]
		if fv <= base {
			continue
		}
		yours, path := set[name], fieldPath(name)
		if i, ok := unset[name]; ok {
			yours, path = json.RawMessage("null"), "/unset/"+strconv.Itoa(i)
		} else {
			path = "/set/" + pointerEscape(name)
		}
		e := recordError(protocol.CodeConflict, path, old, "field %q changed at version %d, after the patch's base_version %d", name, fv, base)
		e.Conflict = &protocol.FieldConflict{Field: name, Yours: yours, Server: old.Fields[name], ServerVersion: fv}
		return e
	}
	return nil
}

func planDeleteRecord(user string, t recordTarget, req protocol.DeleteRecordRequest) (op, error) {
	if req.IfVersion == nil {
		return op{}, recordError(protocol.CodeInput, "/if_version", nil, "is required: the version of the record the delete was made on")
	}
	return planRecordWrite(user, t, http.StatusOK, recordStep{op: protocol.OpDeleteRecord, ev: protocol.EventRecordDeleted, who: whoDelete,
		apply: func(old *protocol.Record, _ *compiledCollection) (map[string]json.RawMessage, []string, error) {
			if err := mustExist(old); err != nil {
				return nil, nil, err
			}
			if err := ifVersion(req.IfVersion, false, old); err != nil {
				return nil, nil, err
			}
			return nil, old.FieldNames(), nil
		}})
}

// targetOf returns the record a request's path names.
func targetOf(r *http.Request) recordTarget {
	return recordTarget{cid: r.PathValue("cid"), collection: r.PathValue("collection"), id: r.PathValue("id")}
}

func (s *Server) handleCreateRecord(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.CreateRecordRequest) (op, error) {
		return planCreateRecord(user, targetOf(r), req)
	})
}

func (s *Server) handleReplaceRecord(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.ReplaceRecordRequest) (op, error) {
		return planReplaceRecord(user, targetOf(r), req)
	})
}

func (s *Server) handlePatchRecord(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.PatchRecordRequest) (op, error) {
		return planPatchRecord(user, targetOf(r), req)
	})
}

func (s *Server) handleDeleteRecord(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.DeleteRecordRequest
	if v := r.URL.Query().Get("if_version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return recordError(protocol.CodeInput, "/if_version", nil, "if_version %q is not a number", v)
		}
		req.IfVersion = &n
	}
	return s.writePlanned(w, r, user)(planDeleteRecord(user, targetOf(r), req))
}

func (s *Server) handleGetRecord(w http.ResponseWriter, r *http.Request, user string) error {
	t := targetOf(r)
	if err := t.check(); err != nil {
		return err
	}
	return viewJSON(s, w, r, func(tx Tx) (protocol.RecordResponse, error) {
		ch, err := channelFor(tx, t.cid, user)
		if err != nil {
			return protocol.RecordResponse{}, err
		}
		rec, err := tx.Record(ch.CID, t.collection, t.id)
		if errors.Is(err, ErrNotFound) {
			return protocol.RecordResponse{}, recordError(protocol.CodeNotFound, "/id", nil, "the record does not exist")
		}
		return protocol.RecordResponse{Record: rec}, err
	})
}

// Bounds of a page of GET /channels/{cid}/records.
const (
	recordsPageDefault = 500
	recordsPageMax     = 2000
)

// handleRecords answers a page of a channel's live records, in
// (collection, id) order after ?after=collection/id, with the position of
// the channel's log in the same snapshot.
func (s *Server) handleRecords(w http.ResponseWriter, r *http.Request, user string) error {
	limit, err := queryLimit(r, recordsPageDefault, recordsPageMax)
	if err != nil {
		return err
	}
	var after RecordKey
	if v := r.URL.Query().Get("after"); v != "" {
		coll, id, ok := strings.Cut(v, "/")
		if !ok || protocol.ValidateRecordKey(coll, id) != nil {
			return protocol.NewAPIError(protocol.CodeInput, "after %q is not collection/id", v)
		}
		after = RecordKey{Collection: coll, ID: id}
	}
	var page recordsPage
	err = s.view(r.Context(), func(tx Tx) error {
		ch, err := channelFor(tx, r.PathValue("cid"), user)
		if err != nil {
			return err
		}
		recs, err := tx.Records(ch.CID, after, limit)
		if err != nil {
			return err
		}
		st, err := tx.ChannelLog(ch.CID)
		if err != nil {
			return err
		}
		pos := head(st)
		page = recordsPage{Records: nonNil(recs), Position: &pos}
		if len(recs) == limit {
			var last struct {
				Collection string `json:"collection"`
				ID         string `json:"id"`
			}
			if err := json.Unmarshal(recs[len(recs)-1], &last); err != nil {
				return fmt.Errorf("server: a stored record: %w", err)
			}
			page.Next = last.Collection + "/" + last.ID
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeSpliced(w, "records", page.Records, &page)
}

// recordsPage is protocol.RecordsResponse with its records as the store
// keeps them (writeSpliced).
type recordsPage struct {
	Records  []json.RawMessage  `json:"-"`
	Position *protocol.Position `json:"position"`
	Next     string             `json:"next,omitempty"`
}
