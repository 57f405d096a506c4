package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
)

const recordHelp = `Records are the app's own data: entries of a named COLLECTION in a
channel CID, each with an ID and FIELDS, a JSON object.

  record create  COLLECTION CID ID FIELDS   a new record
  record replace COLLECTION CID ID FIELDS   its whole field set, on the version held
  record patch   COLLECTION CID ID FIELDS   set the fields given; a null unsets one
  record delete  COLLECTION CID ID          on the version held
  record get     COLLECTION CID ID          from the local DB (works offline)
  record list    COLLECTION [--cid CID] [--where FIELD=JSON] [--order FIELD] [--limit N]
  record import  FILE                       JSON lines, each a create:
                                            {"collection":..,"cid":..,"id":..,"fields":{..}}
                                            (FILE - reads stdin)

get and list print JSON; with --json the writes print their outcome as
JSON. A FIELDS of - reads it from stdin.

` + writeHelp

var recordCmd = &command{
	name: "record", args: "create|replace|patch|delete|get|list|import COLLECTION ... [flags]",
	summary: "write or read the app's records (writes queued when offline)",
	help:    recordHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var w writeFlags
		w.add(fs, e)
		cid := fs.String("cid", "", "list: only the records of this channel")
		where := fs.String("where", "", "list: only records whose FIELD equals the JSON value (FIELD=JSON)")
		order := fs.String("order", "", "list: sort by this field")
		limit := fs.Int("limit", 100, "list: the most records to print")
		return func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usageErrorf("record needs an action: create, replace, patch, delete, get, list or import")
			}
			action, args := args[0], args[1:]
			switch action {
			case "get":
				if err := wantArgs(args, "COLLECTION", "CID", "ID"); err != nil {
					return err
				}
				db, _, err := openLocal(ctx, &w.connFlags)
				if err != nil {
					return err
				}
				defer db.Close()
				r, err := db.GetRecord(ctx, offlinedb.RecordKey{Collection: args[0], CID: args[1], ID: args[2]})
				if err != nil {
					return err
				}
				return writeJSON(e.stdout, recordJSONOf(r))
			case "list":
				if err := wantArgs(args, "COLLECTION"); err != nil {
					return err
				}
				q := listQuery{collection: args[0], cid: *cid, order: *order, limit: *limit}
				if *where != "" {
					field, val, ok := strings.Cut(*where, "=")
					var v any
					if !ok || json.Unmarshal([]byte(val), &v) != nil {
						return usageErrorf("--where wants FIELD=JSON, e.g. done=true or title='\"Buy milk\"'")
					}
					q.where = []offlinedb.FieldFilter{{Field: field, Value: v}}
				}
				return listRecords(ctx, e, &w.connFlags, q)
			case "import":
				if err := wantArgs(args, "FILE"); err != nil {
					return err
				}
				return importRecords(ctx, e, &w, args[0])
			}
			do, ok := recordWrites[action]
			if !ok {
				return usageErrorf("record: unknown action %q", action)
			}
			names := []string{"COLLECTION", "CID", "ID", "FIELDS"}
			if action == "delete" {
				names = names[:3]
			}
			if err := wantArgs(args, names...); err != nil {
				return err
			}
			var fields map[string]any
			if action != "delete" {
				raw := args[3]
				if raw == "-" {
					b, err := readAllLimited(e)
					if err != nil {
						return err
					}
					raw = string(b)
				}
				if err := json.Unmarshal([]byte(raw), &fields); err != nil || fields == nil {
					return usageErrorf("FIELDS must be a JSON object")
				}
			}
			return write(ctx, e, &w, "record "+action, func(c *outpost.Client) error {
				col, err := outpost.OpenCollection[map[string]any](ctx, c, args[0], outpost.CollectionOptions{})
				if err != nil {
					return err
				}
				_, err = do(ctx, col, args[1], args[2], fields)
				return err
			}, func() string { return recordTarget(args[1], args[0], args[2]) })
		}
	},
}

// recordTarget names a record in a write's outcome: CID/COLLECTION/ID.
func recordTarget(cid, collection, id string) string { return cid + "/" + collection + "/" + id }

type recordCol = outpost.Collection[map[string]any]

var recordWrites = map[string]func(ctx context.Context, col *recordCol, cid, id string, fields map[string]any) (outpost.Write, error){
	"create": func(ctx context.Context, col *recordCol, cid, id string, f map[string]any) (outpost.Write, error) {
		return col.Create(ctx, cid, id, f)
	},
	"replace": func(ctx context.Context, col *recordCol, cid, id string, f map[string]any) (outpost.Write, error) {
		return col.Replace(ctx, cid, id, f)
	},
	"patch": func(ctx context.Context, col *recordCol, cid, id string, f map[string]any) (outpost.Write, error) {
		p := outpost.Patch{Set: map[string]any{}}
		for k, v := range f {
			if v == nil {
				p.Unset = append(p.Unset, k)
			} else {
				p.Set[k] = v
			}
		}
		return col.Patch(ctx, cid, id, p)
	},
	"delete": func(ctx context.Context, col *recordCol, cid, id string, _ map[string]any) (outpost.Write, error) {
		return col.Delete(ctx, cid, id)
	},
}

// recordJSON is a record as get and list print it.
type recordJSON struct {
	CID        string                     `json:"cid"`
	Collection string                     `json:"collection"`
	ID         string                     `json:"id"`
	Fields     map[string]json.RawMessage `json:"fields"`
	Version    int64                      `json:"version"`
	Deleted    bool                       `json:"deleted,omitempty"`
	// Status is "sent", "pending" (writes in the outbox) or "failed" (a
	// write refused: see 'outpost failed').
	Status string `json:"status"`
}

func recordJSONOf(r offlinedb.Record) recordJSON {
	status := "sent"
	switch {
	case r.Pending > 0:
		status = "pending"
	case r.Failed > 0:
		status = "failed"
	}
	fields := r.Fields
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	return recordJSON{CID: r.CID, Collection: r.Collection, ID: r.ID, Fields: fields, Version: r.Version, Deleted: r.Deleted, Status: status}
}

func storeRecordsQuery(q listQuery) store.RecordsQuery {
	return store.RecordsQuery{Collection: q.collection, CID: q.cid, Where: q.where, OrderBy: q.order, Limit: q.limit}
}

type listQuery struct {
	collection, cid, order string
	where                  []offlinedb.FieldFilter
	limit                  int
}

func listRecords(ctx context.Context, e *env, o *connFlags, q listQuery) error {
	if q.limit <= 0 {
		return usageErrorf("--limit must be positive")
	}
	db, _, err := openLocal(ctx, o)
	if err != nil {
		return err
	}
	defer db.Close()
	page, err := db.ListRecords(ctx, storeRecordsQuery(q))
	if err != nil {
		return err
	}
	out := []recordJSON{}
	for _, r := range page.Records {
		out = append(out, recordJSONOf(r))
	}
	return writeJSON(e.stdout, out)
}

// importLine is one line of a record import.
type importLine struct {
	Collection string         `json:"collection"`
	CID        string         `json:"cid"`
	ID         string         `json:"id"`
	Fields     map[string]any `json:"fields"`
}

// importRecords queues a create for each line of file, in one session. A
// line that is not a record queues nothing; a create the SDK refuses (a
// bad id, say) stops the import, and the lines before it stay queued.
func importRecords(ctx context.Context, e *env, w *writeFlags, file string) error {
	in := e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return usageErrorf("import: %v", err)
		}
		defer f.Close()
		in = f
	}
	var lines []importLine
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l importLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Fields == nil {
			return usageErrorf("import: %s:%d: want {\"collection\",\"cid\",\"id\",\"fields\":{...}}", file, n)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return usageErrorf("import: %s: %v", file, err)
	}
	return write(ctx, e, w, "record import", func(c *outpost.Client) error {
		cols := map[string]*recordCol{}
		for _, l := range lines {
			col := cols[l.Collection]
			if col == nil {
				var err error
				if col, err = outpost.OpenCollection[map[string]any](ctx, c, l.Collection, outpost.CollectionOptions{}); err != nil {
					return err
				}
				cols[l.Collection] = col
			}
			if _, err := col.Create(ctx, l.CID, l.ID, l.Fields); err != nil {
				return fmt.Errorf("%s/%s/%s: %w", l.CID, l.Collection, l.ID, err)
			}
		}
		fmt.Fprintf(e.stderr, "%d records queued\n", len(lines))
		return nil
	}, func() string { return "" })
}
