package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/protocol"
)

// Records (0011_records.sql) are applied as messages are: a record event
// carries the whole record after the write, and the upsert below takes it
// only at a higher version than the row's, so applying a page twice, or
// an older event after a newer one, changes nothing. A delete is a
// tombstone row (deleted = 1, no fields) at the delete's version, so a
// late record.updated cannot bring the record back; only a create at a
// higher version does, as on the server.

var upsertRecord = newTemplate(
	`INSERT INTO records (cid, collection, id, fields, field_versions, version, created_by, created_at, updated_by, updated_at, deleted)
SELECT v.* FROM (VALUES `, 11,
	`) AS v WHERE NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.kind = 'channel' AND t.key = v.column1 AND t.version >= v.column6)
ON CONFLICT (cid, collection, id) DO UPDATE SET
	fields = excluded.fields,
	field_versions = excluded.field_versions,
	version = excluded.version,
	created_by = CASE WHEN excluded.created_by <> '' THEN excluded.created_by ELSE records.created_by END,
	created_at = coalesce(excluded.created_at, records.created_at),
	updated_by = excluded.updated_by,
	updated_at = excluded.updated_at,
	deleted = excluded.deleted
WHERE excluded.version > records.version`)

// deleteChanRecordsSQL drops a channel's records when the channel is
// gone for the user; a record a pending write overlays stays until its
// task ends (the server refuses it).
const deleteChanRecordsSQL = `DELETE FROM records WHERE cid = ?1
	AND NOT EXISTS (SELECT 1 FROM record_overlays o WHERE o.cid = records.cid AND o.collection = records.collection AND o.id = records.id)`

// recordArgs are upsertRecord's arguments for r at version v.
func recordArgs(r *protocol.Record, cid string, v int64) []any {
	fields, versions := "{}", "{}"
	if !r.Deleted {
		if raw, err := fieldsJSON(r.Fields); err == nil {
			fields = raw
		}
		if raw, err := versionsJSON(r.FieldVersions); err == nil {
			versions = raw
		}
	}
	deleted := 0
	if r.Deleted {
		deleted = 1
	}
	return []any{cid, r.Collection, r.ID, fields, versions, v, r.CreatedBy, nanos(r.CreatedAt), r.UpdatedBy, nanos(r.UpdatedAt), deleted}
}

func nonNilFields(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return map[string]json.RawMessage{}
	}
	return m
}

// record applies a record.* event.
func (b *builder) record() error {
	r := b.ev.Record
	if r == nil {
		return invalidEvent(b.ev, "no record")
	}
	if err := protocol.ValidateRecordKey(r.Collection, r.ID); err != nil {
		return invalidEvent(b.ev, "%v", err)
	}
	if b.ev.Type == protocol.EventRecordDeleted && !r.Deleted {
		return invalidEvent(b.ev, "record.deleted of a record that is not a tombstone")
	}
	cid, v, err := b.scope(r.CID, r.Version)
	if err != nil {
		return err
	}
	b.tmpl(upsertRecord, recordArgs(r, cid, v)...)
	return nil
}

// dropSupersededRecords returns queries without the record upserts that
// a later upsert of the same run of record upserts overwrites whole: the
// run's highest version of the record comes later, and its first upsert
// at that version carries the creator and creation time (which an upsert
// keeps from the stored row when they are missing). Whatever the stored
// row, the run then leaves the record as it would have: where the earlier
// upsert applies, the version guard and the channel tombstone's guard
// pass the later one too, which writes every column. A catch-up's page
// holding many patches of a record writes its row once. A run holds
// nothing but record upserts, so no query between the two sees the
// record. queries itself is left as it is (the event-by-event retry runs
// them all).
func dropSupersededRecords(queries []Query) []Query {
	type key struct{ cid, collection, id string }
	type highest struct {
		version int64
		whole   bool // its first upsert writes every column
	}
	var drop []bool
	var later map[key]highest // the run's highest upsert of each record after the one at hand
	for end := len(queries); end > 0; {
		if queries[end-1].tmpl != upsertRecord {
			end--
			continue
		}
		start := end - 1
		for start > 0 && queries[start-1].tmpl == upsertRecord {
			start--
		}
		clear(later)
		for i := end - 1; i >= start; i-- {
			a := queries[i].Args
			k := key{a[0].(string), a[1].(string), a[2].(string)}
			v := a[5].(int64)
			h, ok := later[k]
			switch {
			case ok && h.version > v:
				if h.whole {
					if drop == nil {
						drop = make([]bool, len(queries))
					}
					drop[i] = true
				}
			default: // the highest so far, or as high and earlier
				by, _ := a[6].(string)
				if later == nil {
					later = map[key]highest{}
				}
				later[k] = highest{version: v, whole: by != "" && a[7] != nil}
			}
		}
		end = start
	}
	if drop == nil {
		return queries
	}
	kept := make([]Query, 0, len(queries))
	for i := range queries {
		if !drop[i] {
			kept = append(kept, queries[i])
		}
	}
	return kept
}

// recordQuery is the one query that stores a record from the server
// outside an event (a page of a channel's records, a refusal's record).
func recordQuery(r *protocol.Record, group string) (Query, error) {
	if err := protocol.ValidateRecordKey(r.Collection, r.ID); err != nil {
		return Query{}, err
	}
	if err := protocol.ValidateCID(r.CID); err != nil {
		return Query{}, err
	}
	if r.Version <= 0 {
		return Query{}, fmt.Errorf("record %s/%s has no version", r.Collection, r.ID)
	}
	return upsertRecord.query(group, recordArgs(r, r.CID, r.Version)...), nil
}

// NewRecordTask makes the task of a record write: typ is one of the
// record ops and body its request.
func NewRecordTask(typ protocol.BatchOpType, userID, cid, collection, id string, body any) (PendingTask, error) {
	if writeKinds[typ].overlay != overlayRecord {
		return PendingTask{}, fmt.Errorf("%w: %q is not a record op", ErrInvalidTask, typ)
	}
	t, err := newTask(typ, NewTaskID(), userID, cid, "", body)
	t.Collection, t.RecordID = collection, id
	return t, err
}

// recordWrite is the record kinds' entry in writeKinds.
func recordWrite(replay func(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error, event protocol.EventType) writeKind {
	return writeKind{
		overlay: overlayRecord,
		queue: func(ctx context.Context, tx *sqlx.Tx, t PendingTask, now time.Time) (AddResult, error) {
			if err := overlayRecordTx(ctx, tx, t); err != nil {
				return 0, err
			}
			return Queued, replay(ctx, tx, t, now)
		},
		replay:  replay,
		answer:  answerType(event),
		refused: storeRefusedRecord,
		retry:   rebaseRecordWrite,
	}
}

// rebaseRecordWrite sets a record write's if_version (when it has one)
// and base_version (a patch's) to the version of the server's record the
// store holds: record_base's while the record is overlaid, else the row's.
func rebaseRecordWrite(ctx context.Context, tx *sqlx.Tx, t *PendingTask) error {
	var v int64
	err := tx.QueryRowxContext(ctx, `SELECT coalesce(
	(SELECT version FROM record_base WHERE cid = ?1 AND collection = ?2 AND id = ?3),
	(SELECT version FROM records WHERE cid = ?1 AND collection = ?2 AND id = ?3
		AND NOT EXISTS (SELECT 1 FROM record_overlays WHERE cid = ?1 AND collection = ?2 AND id = ?3)), 0)`,
		t.CID, t.Collection, t.RecordID).Scan(&v)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(t.Payload, &body); err != nil {
		return fmt.Errorf("%w: %s payload: %v", ErrInvalidTask, t.Type, err)
	}
	ver, _ := json.Marshal(v)
	if _, ok := body["if_version"]; ok && string(body["if_version"]) != "null" {
		body["if_version"] = ver
	}
	if _, ok := body["base_version"]; ok {
		body["base_version"] = ver
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	t.Payload = raw
	return nil
}

// chainBase returns the version of the server's record a record write
// was queued on (its if_version, else a patch's base_version, else 0: a
// create of a record the store never held), and whether the server's
// answer, the record after the write at after, is that version with the
// write applied and nothing else: the write was conditional on it (a
// precondition, or a create, which only an absent record or the
// tombstone it names takes), or, for a patch without one, no field the
// patch left alone changed after it.
func chainBase(payload json.RawMessage, after *protocol.Record) (from int64, exact bool) {
	var b struct {
		IfVersion   *int64                     `json:"if_version"`
		BaseVersion *int64                     `json:"base_version"`
		Set         map[string]json.RawMessage `json:"set"`
		Unset       []string                   `json:"unset"`
	}
	if err := json.Unmarshal(payload, &b); err != nil {
		return 0, false
	}
	switch {
	case b.IfVersion != nil:
		return *b.IfVersion, true
	case b.BaseVersion == nil:
		return 0, true
	}
	for f, v := range after.FieldVersions {
		if _, set := b.Set[f]; !set && !slices.Contains(b.Unset, f) && v > *b.BaseVersion {
			return *b.BaseVersion, false
		}
	}
	return *b.BaseVersion, true
}

// chainedWrite is a record write the server applied: after is its
// answer, the record after it.
type chainedWrite struct {
	done  PendingTask
	after *protocol.Record
}

// rebaseChainedRecordWrites moves the preconditions of the writes of
// done's record still in the outbox from the version done was queued on
// to after's, the record as the server applied done, when after is that
// version with done applied and nothing else (chainBase). This device
// queued them over its own pending write (the store's version of a
// record stays the server's until the write is answered), so they are
// conditional on the record as that write leaves it; when someone else's
// write came in between, they keep their version and are refused.
func rebaseChainedRecordWrites(ctx context.Context, tx *sqlx.Tx, done PendingTask, after *protocol.Record) error {
	from, exact := chainBase(done.Payload, after)
	version := after.Version
	if !exact || from == version {
		return nil
	}
	var later []struct {
		ID      string `db:"task_id"`
		Payload string `db:"payload"`
	}
	if err := tx.SelectContext(ctx, &later, `SELECT task_id, payload FROM pending_tasks
WHERE cid = ? AND collection = ? AND record_id = ? ORDER BY seq`, done.CID, done.Collection, done.RecordID); err != nil {
		return err
	}
	to, _ := json.Marshal(version)
	for _, l := range later {
		var body map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l.Payload), &body); err != nil {
			continue // sent as it is; the server judges it
		}
		changed := false
		for _, name := range []string{"if_version", "base_version"} {
			var v int64
			if raw, ok := body[name]; ok && string(raw) != "null" && json.Unmarshal(raw, &v) == nil && v == from {
				body[name], changed = to, true
			}
		}
		if !changed {
			continue
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pending_tasks SET payload = ? WHERE task_id = ?`, string(raw), l.ID); err != nil {
			return err
		}
	}
	return nil
}

// overlayRecordTx overlays the record a pending write is about to
// change, keeping its server version.
func overlayRecordTx(ctx context.Context, tx *sqlx.Tx, t PendingTask) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO record_overlays (cid, collection, id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		t.CID, t.Collection, t.RecordID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO record_base SELECT * FROM records WHERE cid = ? AND collection = ? AND id = ?`,
		t.CID, t.Collection, t.RecordID)
	return err
}

// storeRefusedRecord stores the server's record a refusal carries, so the
// rollback of the refused write shows the server's truth.
func storeRefusedRecord(ctx context.Context, tx *sqlx.Tx, t PendingTask, refusal *protocol.APIError, _ string) error {
	if refusal == nil || refusal.Record == nil {
		return nil
	}
	r := *refusal.Record
	if r.CID == "" {
		r.CID = t.CID
	}
	q, err := recordQuery(&r, "")
	if err != nil {
		return nil // the refusal stands; the record comes with sync
	}
	_, err = tx.ExecContext(ctx, q.SQL, q.Args...)
	return err
}

func replayCreateRecord(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	var req protocol.CreateRecordRequest
	if err := decodePayload(t, &req); err != nil {
		return err
	}
	fields, err := json.Marshal(nonNilFields(req.Fields))
	if err != nil {
		return fmt.Errorf("%w: fields: %v", ErrInvalidTask, err)
	}
	return execTx(ctx, tx, `INSERT INTO records (cid, collection, id, fields, field_versions, version, created_by, created_at, updated_by, updated_at, deleted)
VALUES (?1, ?2, ?3, ?4, '{}', 0, ?5, ?6, ?5, ?6, 0)
ON CONFLICT (cid, collection, id) DO UPDATE SET fields = excluded.fields, field_versions = '{}', deleted = 0,
	created_by = excluded.created_by, created_at = excluded.created_at, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		t.CID, t.Collection, t.RecordID, string(fields), t.UserID, at.UnixNano())
}

func replayReplaceRecord(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	var req protocol.ReplaceRecordRequest
	if err := decodePayload(t, &req); err != nil {
		return err
	}
	return setRecordFields(ctx, tx, t, at, func(map[string]json.RawMessage) map[string]json.RawMessage { return nonNilFields(req.Fields) })
}

func replayPatchRecord(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	var req protocol.PatchRecordRequest
	if err := decodePayload(t, &req); err != nil {
		return err
	}
	return setRecordFields(ctx, tx, t, at, func(f map[string]json.RawMessage) map[string]json.RawMessage {
		for k, v := range req.Set {
			f[k] = v
		}
		for _, k := range req.Unset {
			delete(f, k)
		}
		return f
	})
}

// setRecordFields sets the fields of a live record to what change makes
// of them; a record not held, or a tombstone, is left as it is (the
// server answers the write).
func setRecordFields(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time, change func(map[string]json.RawMessage) map[string]json.RawMessage) error {
	var raw string
	err := tx.QueryRowxContext(ctx, `SELECT fields FROM records WHERE cid = ? AND collection = ? AND id = ? AND deleted = 0`,
		t.CID, t.Collection, t.RecordID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		fields = map[string]json.RawMessage{}
	}
	out, err := json.Marshal(change(fields))
	if err != nil {
		return fmt.Errorf("%w: fields: %v", ErrInvalidTask, err)
	}
	return execTx(ctx, tx, `UPDATE records SET fields = ?, updated_by = ?, updated_at = ? WHERE cid = ? AND collection = ? AND id = ?`,
		string(out), t.UserID, at.UnixNano(), t.CID, t.Collection, t.RecordID)
}

func replayDeleteRecord(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	return execTx(ctx, tx, `UPDATE records SET fields = '{}', field_versions = '{}', deleted = 1, updated_by = ?, updated_at = ?
WHERE cid = ? AND collection = ? AND id = ?`, t.UserID, at.UnixNano(), t.CID, t.Collection, t.RecordID)
}

// RecordsQuery selects records of one collection for ListRecords.
type RecordsQuery struct {
	// CID limits the records to one channel; empty means every channel.
	CID        string
	Collection string
	// Where are equality filters on top-level fields, all of which a
	// record must match; a value is compared as the field's JSON value
	// (a Go string, number or bool).
	Where []FieldFilter
	// OrderBy is the top-level field to sort by (empty: by record id);
	// Desc sorts in descending order. Ties are broken by (cid, id).
	OrderBy string
	Desc    bool
	// Limit is the most records to return; zero means 100.
	Limit int
	// Cursor continues after the last record of an earlier page (its
	// RecordsPage.Next); empty starts at the beginning.
	Cursor string
	// Deleted includes tombstones.
	Deleted bool
}

// RecordsPage is one page of ListRecords.
type RecordsPage struct {
	Records []Record
	// Next is the cursor of the following page; empty when this is the
	// last.
	Next string
}

// recordRow is a records row with its outbox counts, as reads return it.
type recordRow struct {
	CID           string        `db:"cid"`
	Collection    string        `db:"collection"`
	ID            string        `db:"id"`
	Fields        string        `db:"fields"`
	FieldVersions string        `db:"field_versions"`
	Version       int64         `db:"version"`
	CreatedBy     string        `db:"created_by"`
	CreatedAt     sql.NullInt64 `db:"created_at"`
	UpdatedBy     string        `db:"updated_by"`
	UpdatedAt     sql.NullInt64 `db:"updated_at"`
	Deleted       bool          `db:"deleted"`
	Pending       int           `db:"pending"`
	Failed        int           `db:"failed"`
}

func (r recordRow) record() Record {
	out := Record{Record: protocol.Record{CID: r.CID, Collection: r.Collection, ID: r.ID, Version: r.Version,
		CreatedBy: r.CreatedBy, CreatedAt: fromNanos(r.CreatedAt), UpdatedBy: r.UpdatedBy, UpdatedAt: fromNanos(r.UpdatedAt),
		Deleted: r.Deleted}}
	out.Pending, out.Failed = r.Pending, r.Failed
	// The store wrote both columns from valid JSON.
	_ = json.Unmarshal([]byte(r.Fields), &out.Fields)
	_ = json.Unmarshal([]byte(r.FieldVersions), &out.FieldVersions)
	return out
}

const recordSelect = `SELECT r.cid, r.collection, r.id, r.fields, r.field_versions, r.version, r.created_by, r.created_at,
	r.updated_by, r.updated_at, r.deleted,
	(SELECT count(*) FROM pending_tasks p WHERE p.cid = r.cid AND p.collection = r.collection AND p.record_id = r.id AND p.record_id <> '') AS pending,
	(SELECT count(*) FROM failed_tasks f WHERE f.cid = r.cid AND f.collection = r.collection AND f.record_id = r.id AND f.record_id <> '') AS failed
FROM records r`

// GetRecord returns a record (a tombstone too), with this device's
// pending writes over it, or ErrNotFound.
func (d *DB) GetRecord(ctx context.Context, k RecordKey) (Record, error) {
	if d.closed.Load() {
		return Record{}, ErrClosed
	}
	var row recordRow
	err := d.db.GetContext(ctx, &row, recordSelect+` WHERE r.cid = ? AND r.collection = ? AND r.id = ?`, k.CID, k.Collection, k.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("%w: %s %s/%s", ErrNotFound, k.CID, k.Collection, k.ID)
	}
	if err != nil {
		return Record{}, fmt.Errorf("offlinedb: get record: %w", err)
	}
	return row.record(), nil
}

// fieldName is a top-level field name a query may filter or sort by: it
// is written into the SQL as a JSON path (so that an expression index
// over it matches), hence the narrow syntax.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// CheckQueryField checks a field name a query or an index names.
func CheckQueryField(name string) error {
	if !fieldName.MatchString(name) {
		return fmt.Errorf("%w: field %q: a queried field is a letter or _ then letters, digits or _", ErrInvalidQuery, name)
	}
	return nil
}

// fieldExpr is the SQL of a top-level field's value; EnsureIndexes
// indexes exactly this expression.
func fieldExpr(name string) string { return `json_extract(fields, '$.` + name + `')` }

// IndexTypes are the types an Index may declare.
var IndexTypes = map[string]bool{"text": true, "integer": true, "real": true, "boolean": true}

// EnsureIndexes creates, if missing, an expression index over the JSON of
// each field of idx, for the records of collection: List's filters and
// sorts on those fields use it.
func (d *DB) EnsureIndexes(ctx context.Context, collection string, idx []Index) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if err := protocol.ValidateID("collection", collection); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	for _, ix := range idx {
		if err := CheckQueryField(ix.Field); err != nil {
			return err
		}
		if !IndexTypes[ix.Type] {
			return fmt.Errorf("%w: index on %s.%s: unknown type %q (text, integer, real, boolean)", ErrInvalidQuery, collection, ix.Field, ix.Type)
		}
	}
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		for _, ix := range idx {
			name := strings.ReplaceAll("records_"+collection+"_"+ix.Field, `"`, `""`)
			q := `CREATE INDEX IF NOT EXISTS "` + name + `" ON records (collection, ` + fieldExpr(ix.Field) + `, cid, id)`
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("offlinedb: index %s.%s: %w", collection, ix.Field, err)
			}
		}
		return nil
	})
}

// recordCursor is where a page of ListRecords ended.
type recordCursor struct {
	Value any    `json:"v"`
	CID   string `json:"c"`
	ID    string `json:"i"`
}

// queryValue is a filter's or cursor's value as SQLite compares it with
// json_extract's result.
func queryValue(v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return 1
		}
		return 0
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// ListRecords returns a page of a collection's records, filtered and
// sorted as q says, with this device's pending writes over them.
func (d *DB) ListRecords(ctx context.Context, q RecordsQuery) (RecordsPage, error) {
	if d.closed.Load() {
		return RecordsPage{}, ErrClosed
	}
	sqlText, args, limit, err := recordsSQL(q)
	if err != nil {
		return RecordsPage{}, err
	}
	var rows []recordRow
	if err := d.db.SelectContext(ctx, &rows, sqlText, args...); err != nil {
		return RecordsPage{}, fmt.Errorf("offlinedb: list records: %w", err)
	}
	var page RecordsPage
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		c := recordCursor{CID: last.CID, ID: last.ID}
		if q.OrderBy != "" {
			if err := d.db.GetContext(ctx, &c.Value, `SELECT json_extract(?, '$.`+q.OrderBy+`')`, last.Fields); err != nil {
				return RecordsPage{}, fmt.Errorf("offlinedb: list records: %w", err)
			}
		}
		raw, _ := json.Marshal(c)
		page.Next = base64.RawURLEncoding.EncodeToString(raw)
	}
	page.Records = make([]Record, len(rows))
	for i, r := range rows {
		page.Records[i] = r.record()
	}
	return page, nil
}

// recordsSQL is the query of ListRecords for q, its arguments and the
// page's size (the query asks for one more, to know whether more follow).
func recordsSQL(q RecordsQuery) (string, []any, int, error) {
	if err := protocol.ValidateID("collection", q.Collection); err != nil {
		return "", nil, 0, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	where := []string{"r.collection = ?"}
	args := []any{q.Collection}
	if q.CID != "" {
		where, args = append(where, "r.cid = ?"), append(args, q.CID)
	}
	if !q.Deleted {
		where = append(where, "r.deleted = 0")
	}
	for _, f := range q.Where {
		if err := CheckQueryField(f.Field); err != nil {
			return "", nil, 0, err
		}
		if f.Value == nil {
			where = append(where, fieldExpr(f.Field)+" IS NULL")
			continue
		}
		where, args = append(where, fieldExpr(f.Field)+" = ?"), append(args, queryValue(f.Value))
	}
	sortExpr := "NULL"
	if q.OrderBy != "" {
		if err := CheckQueryField(q.OrderBy); err != nil {
			return "", nil, 0, err
		}
		sortExpr = fieldExpr(q.OrderBy)
	}
	cmp, dir := ">", "ASC"
	if q.Desc {
		cmp, dir = "<", "DESC"
	}
	if q.Cursor != "" {
		c, err := decodeRecordCursor(q.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		key := "(r.cid, r.id) " + cmp + " (?, ?)"
		switch {
		case q.OrderBy == "":
			where, args = append(where, key), append(args, c.CID, c.ID)
		case c.Value == nil && !q.Desc:
			where, args = append(where, "("+sortExpr+" IS NULL AND "+key+" OR "+sortExpr+" IS NOT NULL)"), append(args, c.CID, c.ID)
		case c.Value == nil:
			where, args = append(where, "("+sortExpr+" IS NULL AND "+key+")"), append(args, c.CID, c.ID)
		case !q.Desc:
			where, args = append(where, "("+sortExpr+" > ? OR "+sortExpr+" = ? AND "+key+")"), append(args, c.Value, c.Value, c.CID, c.ID)
		default:
			where, args = append(where, "("+sortExpr+" < ? OR "+sortExpr+" = ? AND "+key+" OR "+sortExpr+" IS NULL)"),
				append(args, c.Value, c.Value, c.CID, c.ID)
		}
	}
	order := "r.cid " + dir + ", r.id " + dir
	if q.OrderBy != "" {
		order = sortExpr + " " + dir + ", " + order
	}
	sqlText := recordSelect + " WHERE " + strings.Join(where, " AND ") + " ORDER BY " + order + " LIMIT ?"
	return sqlText, append(args, limit+1), limit, nil
}

func decodeRecordCursor(s string) (recordCursor, error) {
	var c recordCursor
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		err = dec.Decode(&c)
	}
	if err != nil {
		return c, fmt.Errorf("%w: bad cursor", ErrInvalidQuery)
	}
	c.Value = queryValue(c.Value)
	return c, nil
}

// ExplainListRecords returns SQLite's plan (EXPLAIN QUERY PLAN) of the
// query ListRecords runs for q, one step a line: a test checks with it
// that a declared index is used.
func (d *DB) ExplainListRecords(ctx context.Context, q RecordsQuery) ([]string, error) {
	sqlText, args, _, err := recordsSQL(q)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID     int    `db:"id"`
		Parent int    `db:"parent"`
		NotUse int    `db:"notused"`
		Detail string `db:"detail"`
	}
	if err := d.db.SelectContext(ctx, &rows, "EXPLAIN QUERY PLAN "+sqlText, args...); err != nil {
		return nil, fmt.Errorf("offlinedb: explain: %w", err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Detail
	}
	return out, nil
}
