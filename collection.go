package outpost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// Collection is a typed view of one collection of the app's records
// (protocol.Record): T is the Go type of a record's fields, mapped
// through its json tags, as encoding/json does. A record lives in a
// channel, its scope: the channel's members read it, and every write
// names the channel (cid) and the record's id.
//
// Writes work as the Client's: they are stored at once with their effect
// on the local record (the overlay) and sent in order, exactly once,
// online at once and offline when the connection comes back. Each
// returns the Write that carries it. A write the server refuses goes to
// the Client's FailedTasks, with the server's reason, path and record
// (FailedTask.Refusal), and the local record rolls back to the server's;
// RetryFailed makes it again over the server's version, DismissFailed
// forgets it.
//
// Reads (Get, List) read the local store: they work offline, and each
// Item says whether the record has pending or refused writes. OnChange
// names the records a change touched (syncmanager.Change.Records).
//
// A Collection is safe for concurrent use.
type Collection[T any] struct {
	c    *Client
	name string
	// fields are the json names of T's top-level fields, when T is a
	// struct; nil for other types (a map), whose names are not checked.
	fields map[string]bool
}

// CollectionOptions are OpenCollection's optional settings.
type CollectionOptions struct {
	// Indexes are the fields List filters or sorts by often: the store
	// keeps a SQLite expression index over each field's JSON value. A
	// field name is a letter or _ then letters, digits or _; its type
	// one of "text", "integer", "real", "boolean".
	Indexes []offlinedb.Index
}

// OpenCollection returns the collection name of c's records, typed as T,
// and creates the indexes opts declares (if missing). A bad name, or an
// index on a bad field name or of an unknown type, is an error wrapping
// offlinedb.ErrInvalidQuery, and nothing is created.
func OpenCollection[T any](ctx context.Context, c *Client, name string, opts CollectionOptions) (*Collection[T], error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if err := c.db.EnsureIndexes(ctx, name, opts.Indexes); err != nil {
		return nil, err
	}
	return &Collection[T]{c: c, name: name, fields: jsonFields(reflect.TypeFor[T]())}, nil
}

// Name returns the collection's name.
func (col *Collection[T]) Name() string { return col.name }

// Item is a record of a Collection as the local store holds it: its
// fields decoded into Value, with this device's pending writes over the
// server's record.
type Item[T any] struct {
	Value T
	// Record is the record as stored (its raw fields, versions, who
	// changed it and when), with its pending and failed counts.
	offlinedb.Record
	// Err is set, and Value is T's zero value, when the stored fields do
	// not decode into T (the app changed T since): a *RecordError
	// naming the record.
	Err error
}

// RecordError is a record that cannot be encoded from, or decoded into,
// a Collection's T; Key names it.
type RecordError struct {
	Key offlinedb.RecordKey
	Op  string // "encode" or "decode"
	Err error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("outpost: %s record %s %s/%s: %v", e.Op, e.Key.CID, e.Key.Collection, e.Key.ID, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

func (col *Collection[T]) key(cid, id string) offlinedb.RecordKey {
	return offlinedb.RecordKey{CID: cid, Collection: col.name, ID: id}
}

// encode turns v into a record's fields: a JSON object.
func (col *Collection[T]) encode(k offlinedb.RecordKey, v T) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(v)
	var fields map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(raw, &fields)
	}
	if err == nil && fields == nil {
		err = errors.New("not a JSON object")
	}
	if err != nil {
		return nil, &RecordError{Key: k, Op: "encode", Err: err}
	}
	return fields, nil
}

func (col *Collection[T]) write(ctx context.Context, typ protocol.BatchOpType, k offlinedb.RecordKey, body any) (Write, error) {
	if err := col.c.check(); err != nil {
		return Write{}, err
	}
	id, err := col.c.mgr.WriteRecord(ctx, typ, k.CID, k.Collection, k.ID, body)
	if err != nil {
		return Write{}, err
	}
	return Write{TaskID: id, Record: k}, nil
}

// heldVersion is the version of the server's record the store holds (0
// when it holds none): the version this device's writes are based on.
func (col *Collection[T]) heldVersion(ctx context.Context, k offlinedb.RecordKey) (int64, error) {
	r, err := col.c.db.GetRecord(ctx, k)
	if errors.Is(err, offlinedb.ErrNotFound) {
		return 0, nil
	}
	return r.Version, err
}

// Create queues a new record id in channel cid with v's fields. The
// server refuses it (FailedTasks, code 41) if the record exists; a
// deleted record is created again, over its tombstone's version.
func (col *Collection[T]) Create(ctx context.Context, cid, id string, v T) (Write, error) {
	k := col.key(cid, id)
	fields, err := col.encode(k, v)
	if err != nil {
		return Write{}, err
	}
	req := protocol.CreateRecordRequest{Fields: fields}
	if r, err := col.c.db.GetRecord(ctx, k); err == nil && r.Deleted {
		req.IfVersion = r.Version
	}
	return col.write(ctx, protocol.OpCreateRecord, k, req)
}

// Replace queues the replacement of a record's whole field set with v's,
// on the condition that the server's record is still the version this
// device holds: a newer one (someone else's write) refuses it, and the
// refusal on FailedTasks carries the server's record. Behind this
// device's own pending writes of the record, the condition is the record
// as they leave it: they are sent first, and each answer moves the
// condition on to its version, unless someone else's write came in
// between.
func (col *Collection[T]) Replace(ctx context.Context, cid, id string, v T) (Write, error) {
	k := col.key(cid, id)
	fields, err := col.encode(k, v)
	if err != nil {
		return Write{}, err
	}
	ver, err := col.heldVersion(ctx, k)
	if err != nil {
		return Write{}, err
	}
	return col.write(ctx, protocol.OpReplaceRecord, k, protocol.ReplaceRecordRequest{Fields: fields, IfVersion: &ver})
}

// Patch is a typed partial write: the top-level fields to set, by their
// json names in T, each value encoded with encoding/json and replacing
// the field's value whole, and the fields to unset.
type Patch struct {
	Set   map[string]any
	Unset []string
	// IfVersion, when set, makes the patch conditional on the server's
	// record being the version this device holds: any newer write refuses
	// it (412), whatever fields it changed. Unset, the collection's
	// conflict rule judges it field by field (the later write wins, by
	// default).
	IfVersion bool
}

// Patch queues a change of some of a record's top-level fields: two
// patches of different fields both survive; of the same field, the
// collection's conflict rule decides (docs/PROTOCOL.md, "Conflicts"). A
// name that is not one of T's json fields (when T is a struct) is
// refused at once, nothing queued.
func (col *Collection[T]) Patch(ctx context.Context, cid, id string, p Patch) (Write, error) {
	k := col.key(cid, id)
	req := protocol.PatchRecordRequest{Set: map[string]json.RawMessage{}, Unset: p.Unset}
	for _, name := range append(mapKeys(p.Set), p.Unset...) {
		if col.fields != nil && !col.fields[name] {
			return Write{}, fmt.Errorf("%w: %w", offlinedb.ErrInvalidTask,
				&protocol.ValidationError{Field: "patch", Reason: fmt.Sprintf("%q is not a json field of %T", name, *new(T))})
		}
	}
	for name, v := range p.Set {
		raw, err := json.Marshal(v)
		if err != nil {
			return Write{}, &RecordError{Key: k, Op: "encode", Err: fmt.Errorf("field %s: %w", name, err)}
		}
		req.Set[name] = raw
	}
	ver, err := col.heldVersion(ctx, k)
	if err != nil {
		return Write{}, err
	}
	req.BaseVersion = ver
	if p.IfVersion {
		req.IfVersion = &ver
	}
	return col.write(ctx, protocol.OpPatchRecord, k, req)
}

// Delete queues the deletion of a record, on the condition that the
// server's record is still the version this device holds, as Replace.
func (col *Collection[T]) Delete(ctx context.Context, cid, id string) (Write, error) {
	k := col.key(cid, id)
	ver, err := col.heldVersion(ctx, k)
	if err != nil {
		return Write{}, err
	}
	return col.write(ctx, protocol.OpDeleteRecord, k, protocol.DeleteRecordRequest{IfVersion: &ver})
}

// Get returns a record, or an error wrapping offlinedb.ErrNotFound. A
// deleted record (a tombstone, or a pending delete) has Deleted set. A
// record whose fields do not decode into T is returned with Err set, and
// Get returns that *RecordError too.
func (col *Collection[T]) Get(ctx context.Context, cid, id string) (Item[T], error) {
	if err := col.c.check(); err != nil {
		return Item[T]{}, err
	}
	r, err := col.c.db.GetRecord(ctx, col.key(cid, id))
	if err != nil {
		return Item[T]{}, err
	}
	it := col.item(r)
	return it, it.Err
}

func (col *Collection[T]) item(r offlinedb.Record) Item[T] {
	it := Item[T]{Record: r}
	if r.Deleted {
		return it
	}
	raw, err := json.Marshal(r.Fields)
	if err == nil {
		err = json.Unmarshal(raw, &it.Value)
	}
	if err != nil {
		var zero T
		it.Value, it.Err = zero, &RecordError{Key: offlinedb.RecordKey{CID: r.CID, Collection: r.Collection, ID: r.ID}, Op: "decode", Err: err}
	}
	return it
}

// ListQuery selects a page of a Collection's records for List.
type ListQuery struct {
	// CID limits the records to one channel; empty means every channel.
	CID string
	// Where are equality filters on top-level fields (json names), all
	// of which a record must match.
	Where []offlinedb.FieldFilter
	// OrderBy is the field to sort by (empty: by channel and id); Desc
	// sorts in descending order.
	OrderBy string
	Desc    bool
	// Limit is the page's size; zero means 100.
	Limit int
	// Cursor continues after an earlier page (List's next).
	Cursor string
}

// List returns a page of the collection's live records and the cursor of
// the next page ("" after the last). Records whose fields do not decode
// into T are in the page with Err set, and List's error joins their
// *RecordErrors; the others are whole.
func (col *Collection[T]) List(ctx context.Context, q ListQuery) (items []Item[T], next string, err error) {
	if err := col.c.check(); err != nil {
		return nil, "", err
	}
	page, err := col.c.db.ListRecords(ctx, store.RecordsQuery{CID: q.CID, Collection: col.name, Where: q.Where,
		OrderBy: q.OrderBy, Desc: q.Desc, Limit: q.Limit, Cursor: q.Cursor})
	if err != nil {
		return nil, "", err
	}
	items = make([]Item[T], len(page.Records))
	var errs []error
	for i, r := range page.Records {
		items[i] = col.item(r)
		if items[i].Err != nil {
			errs = append(errs, items[i].Err)
		}
	}
	return items, page.Next, errors.Join(errs...)
}

func mapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// jsonFields returns the json names of a struct type's top-level fields
// (embedded structs' fields included, as encoding/json flattens them);
// nil for a type that is not a struct.
func jsonFields(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && !strings.Contains(tag, ",") {
			continue
		}
		if f.Anonymous && name == "" {
			for n := range jsonFields(f.Type) {
				out[n] = true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
}
