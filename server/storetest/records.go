package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/token"
)

var recordSecret = []byte("storetest-secret")

// node is a real server on a store under test, as one outpostd node.
type node struct {
	*httptest.Server
	srv   *server.Server
	store server.Store
}

// startNode serves st with a server configured by tune (nil for the
// defaults, without rate limits), until t ends.
func startNode(t *testing.T, st server.Store, tune func(*server.Config)) *node {
	t.Helper()
	cfg := server.Config{Store: st, Secret: recordSecret, Logger: slog.New(slog.DiscardHandler),
		WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return &node{Server: hs, srv: srv, store: st}
}

// call makes a request as user (apitest.Call).
func (n *node) call(t testing.TB, user, method, path string, body any, out any, headers ...string) (int, *protocol.APIError) {
	t.Helper()
	tok, err := token.Issue(recordSecret, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return apitest.Call(t, method, n.URL+path, tok, body, out, headers...)
}

// must is call for a request that must succeed.
func (n *node) must(t testing.TB, user, method, path string, body any, out any, headers ...string) {
	t.Helper()
	if _, ae := n.call(t, user, method, path, body, out, headers...); ae != nil {
		t.Fatalf("%s %s as %s: %v", method, path, user, ae)
	}
}

// channel creates a channel owned by owner with members, through the API.
func (n *node) channel(t testing.TB, owner, id string, members ...string) string {
	t.Helper()
	n.must(t, owner, http.MethodPost, protocol.PathChannels,
		protocol.CreateChannelRequest{Type: "team", ID: id, Members: members}, nil)
	return protocol.CID("team", id)
}

func recordPath(cid, coll, id string) string {
	return fmt.Sprintf("/channels/%s/records/%s/%s", cid, coll, id)
}

// fields makes a field set from name, value pairs.
func fields(kv ...any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for i := 0; i+1 < len(kv); i += 2 {
		b, _ := json.Marshal(kv[i+1])
		out[kv[i].(string)] = b
	}
	return out
}

func (n *node) create(t testing.TB, user, cid, coll, id string, f map[string]json.RawMessage) protocol.Record {
	t.Helper()
	var res protocol.RecordResponse
	n.must(t, user, http.MethodPost, recordPath(cid, coll, id), protocol.CreateRecordRequest{Fields: f}, &res)
	return res.Record
}

func (n *node) patch(t testing.TB, user, cid, coll, id string, req protocol.PatchRecordRequest) (protocol.Record, *protocol.APIError) {
	t.Helper()
	var res protocol.RecordResponse
	_, ae := n.call(t, user, http.MethodPatch, recordPath(cid, coll, id), req, &res)
	return res.Record, ae
}

// record reads a record from the store, ErrNotFound if none.
func storedRecord(t testing.TB, st server.Store, cid, coll, id string) (protocol.Record, error) {
	var r protocol.Record
	err := st.View(ctx, func(tx server.Tx) error {
		var err error
		r, err = tx.Record(cid, coll, id)
		return err
	})
	return r, err
}

// liveRecords returns up to limit live records of cid, decoded from the
// JSON tx.Records returns.
func liveRecords(tx server.Tx, cid string, limit int) ([]protocol.Record, error) {
	raw, err := tx.Records(cid, server.RecordKey{}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Record, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, fmt.Errorf("stored record %d: %w", i, err)
		}
	}
	return out, nil
}

func vp(v int64) *int64 { return &v }

// testRules are the record rules of the record tests.
var testRules = server.Rules{Collections: map[string]server.CollectionRules{
	"tasks": {
		Schema: json.RawMessage(`{"type": "object", "required": ["title"], "additionalProperties": false,
			"properties": {"title": {"type": "string", "maxLength": 100}, "done": {"type": "boolean"},
				"tags": {"type": "array", "items": {"type": "string"}}}}`),
		MaxRecordBytes: 1024,
		Delete:         server.WhoCreator,
	},
	"strict": {Conflict: server.ConflictRefuse},
	"notes":  {},
	"locked": {Create: server.WhoOwner, Update: server.WhoNobody},
}}

// recordState is what a channel holds of records and its log, to show
// a refused write stored nothing.
func recordState(t testing.TB, st server.Store, cid string) string {
	t.Helper()
	var out []byte
	err := st.View(ctx, func(tx server.Tx) error {
		recs, err := tx.Records(cid, server.RecordKey{}, 10000)
		if err != nil {
			return err
		}
		gone, err := tx.Record(cid, "tasks", "gone")
		if err != nil {
			return err
		}
		lg, err := tx.ChannelLog(cid)
		if err != nil {
			return err
		}
		out, err = json.Marshal([]any{recs, gone, lg.LastSeq})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// testRecordBadInput sends bad records and writes the rules or
// preconditions refuse, alone and as batch ops: each is a 4xx with the
// JSON path of what is at fault, and nothing is stored.
func testRecordBadInput(t *testing.T, h Harness) {
	st := h.Open(t)
	n := startNode(t, st, func(c *server.Config) { c.Rules = &testRules })
	cid := n.channel(t, "owner", "rules", "ann", "bob")
	t1 := n.create(t, "ann", cid, "tasks", "t1", fields("title", "write", "tags", []string{"a"}))
	s0 := n.create(t, "ann", cid, "strict", "s1", fields("x", 1))
	n.create(t, "owner", cid, "locked", "l1", fields("x", 1))
	gone := n.create(t, "ann", cid, "tasks", "gone", fields("title", "old"))
	n.must(t, "ann", http.MethodDelete, recordPath(cid, "tasks", "gone")+fmt.Sprintf("?if_version=%d", gone.Version), nil, nil)
	goneV := gone.Version + 1
	// bob changes s1's x: a patch based on its first version is stale.
	if _, ae := n.patch(t, "bob", cid, "strict", "s1", protocol.PatchRecordRequest{Set: fields("x", 2), BaseVersion: s0.Version}); ae != nil {
		t.Fatal(ae)
	}
	stale := s0.Version

	long := strings.Repeat("x", 129)
	many := make([]string, 200)
	for i := range many {
		many[i] = "abcdefgh"
	}
	p := func(coll, id string) string { return recordPath(cid, coll, id) }
	cases := []struct {
		name         string
		user, method string
		path         string
		body         any
		status       int
		at           string // the error's path
		withRecord   bool   // the error carries the server's record
	}{
		{"missing required field", "ann", "POST", p("tasks", "n1"), `{"fields":{"done":true}}`, 400, "/fields/title", false},
		{"field of the wrong type", "ann", "POST", p("tasks", "n1"), `{"fields":{"title":7}}`, 400, "/fields/title", false},
		{"string over the schema's maxLength", "ann", "POST", p("tasks", "n1"), protocol.CreateRecordRequest{Fields: fields("title", strings.Repeat("t", 101))}, 400, "/fields/title", false},
		{"field the schema does not allow", "ann", "POST", p("tasks", "n1"), `{"fields":{"title":"a","colour":"red"}}`, 400, "/fields/colour", false},
		{"array item of the wrong type", "ann", "POST", p("tasks", "n1"), `{"fields":{"title":"a","tags":["x",3]}}`, 400, "/fields/tags/1", false},
		{"boolean field given a string", "ann", "POST", p("tasks", "n1"), `{"fields":{"title":"a","done":"yes"}}`, 400, "/fields/done", false},
		{"field over the record bound", "ann", "POST", p("tasks", "n1"), protocol.CreateRecordRequest{Fields: fields("title", "a", "tags", many)}, 413, "/fields/tags", false},
		{"record over the bound", "ann", "POST", p("notes", "n1"), protocol.CreateRecordRequest{Fields: fields("a", strings.Repeat("x", 40000), "b", strings.Repeat("x", 40000))}, 413, "/fields", false},
		{"field over the protocol bound", "ann", "POST", p("notes", "n1"), protocol.CreateRecordRequest{Fields: fields("a", strings.Repeat("x", protocol.MaxRecordBytes))}, 413, "/fields/a", false},
		{"collection the rules do not know", "ann", "POST", p("nope", "n1"), `{"fields":{}}`, 400, "/collection", false},
		{"collection not an identifier", "ann", "POST", p("no%20pe", "n1"), `{"fields":{}}`, 400, "/collection", false},
		{"id too long", "ann", "POST", p("notes", long), `{"fields":{}}`, 400, "/id", false},
		{"id not an identifier", "ann", "POST", p("notes", "a%2Cb"), `{"fields":{}}`, 400, "/id", false},
		{"duplicate keys in fields", "ann", "POST", p("notes", "n1"), `{"fields":{"a":1,"a":2}}`, 400, "/fields/a", false},
		{"duplicate keys in a field's value", "ann", "POST", p("notes", "n1"), `{"fields":{"a":{"b":1,"b":2}}}`, 400, "/fields/a/b", false},
		{"fields missing", "ann", "POST", p("notes", "n1"), `{}`, 400, "/fields", false},
		{"fields not an object", "ann", "POST", p("notes", "n1"), `{"fields":[1]}`, 400, "/fields", false},
		{"empty field name", "ann", "POST", p("notes", "n1"), `{"fields":{"":1}}`, 400, "/fields/", false},
		{"field name too long", "ann", "POST", p("notes", "n1"), `{"fields":{"` + long + `":1}}`, 400, "/fields/" + long, false},
		{"create of a live record", "bob", "POST", p("tasks", "t1"), `{"fields":{"title":"again"}}`, 409, "/id", true},
		{"re-create without the tombstone's version", "ann", "POST", p("tasks", "gone"), `{"fields":{"title":"back"}}`, 409, "/if_version", true},
		{"re-create with another version", "ann", "POST", p("tasks", "gone"), fmt.Sprintf(`{"fields":{"title":"back"},"if_version":%d}`, goneV-1), 412, "/if_version", true},
		{"create with a version of a record never made", "ann", "POST", p("tasks", "n1"), `{"fields":{"title":"a"},"if_version":3}`, 412, "/if_version", false},
		{"create by a role the rules refuse", "ann", "POST", p("locked", "l2"), `{"fields":{}}`, 403, "/collection", false},
		{"replace without a precondition", "ann", "PUT", p("tasks", "t1"), `{"fields":{"title":"x"}}`, 400, "/if_version", false},
		{"replace on a stale version", "ann", "PUT", p("tasks", "t1"), fmt.Sprintf(`{"fields":{"title":"x"},"if_version":%d}`, t1.Version-1), 412, "/if_version", true},
		{"replace failing the schema", "ann", "PUT", p("tasks", "t1"), fmt.Sprintf(`{"fields":{"title":false},"if_version":%d}`, t1.Version), 400, "/fields/title", true},
		{"replace of a deleted record", "ann", "PUT", p("tasks", "gone"), fmt.Sprintf(`{"fields":{"title":"x"},"if_version":%d}`, goneV), 404, "/id", true},
		{"replace of a record never made", "ann", "PUT", p("tasks", "n1"), `{"fields":{"title":"x"},"if_version":1}`, 404, "/id", false},
		{"update by a role the rules refuse", "owner", "PUT", p("locked", "l1"), `{"fields":{},"if_version":1000}`, 412, "/if_version", true},
		{"patch that changes nothing", "ann", "PATCH", p("tasks", "t1"), `{"base_version":1}`, 400, "/set", false},
		{"patch setting and unsetting a field", "ann", "PATCH", p("tasks", "t1"), `{"set":{"done":true},"unset":["done"]}`, 400, "/unset/0", false},
		{"patch unsetting a field twice", "ann", "PATCH", p("tasks", "t1"), `{"unset":["done","done"]}`, 400, "/unset/1", false},
		{"patch based after the record's version", "ann", "PATCH", p("tasks", "t1"), `{"set":{"done":true},"base_version":1000000}`, 400, "/base_version", true},
		{"patch of a deleted record", "ann", "PATCH", p("tasks", "gone"), `{"set":{"done":true}}`, 404, "/id", true},
		{"patch on a failed precondition", "ann", "PATCH", p("tasks", "t1"), `{"set":{"done":true},"if_version":1}`, 412, "/if_version", true},
		{"patch unsetting a required field", "ann", "PATCH", p("tasks", "t1"), fmt.Sprintf(`{"unset":["title"],"base_version":%d}`, t1.Version), 400, "/fields/title", true},
		{"patch of a stale field under the refuse rule", "ann", "PATCH", p("strict", "s1"), fmt.Sprintf(`{"set":{"x":9},"base_version":%d}`, stale), 409, "/set/x", true},
		{"patch by a role the rules refuse", "owner", "PATCH", p("locked", "l1"), `{"set":{"x":2}}`, 403, "/collection", true},
		{"delete without a precondition", "ann", "DELETE", p("tasks", "t1"), nil, 400, "/if_version", false},
		{"delete on a stale version", "ann", "DELETE", p("tasks", "t1") + "?if_version=1", nil, 412, "/if_version", true},
		{"delete with a version that is not a number", "ann", "DELETE", p("tasks", "t1") + "?if_version=x", nil, 400, "/if_version", false},
		{"delete by a member who did not create it", "bob", "DELETE", p("tasks", "t1") + fmt.Sprintf("?if_version=%d", t1.Version), nil, 403, "/collection", true},
		{"batch with duplicate keys in an op's fields", "ann", "POST", protocol.PathBatch,
			`{"ops":[{"type":"create-record","cid":"` + cid + `","collection":"notes","record_id":"x","body":{"fields":{"k":1,"k":1}}}]}`,
			400, "/ops/0/body/fields/k", false},
		{"write by a non-member", "eve", "POST", p("notes", "n1"), `{"fields":{}}`, 403, "", false},
	}
	// The same writes as batch ops, where their op names the record.
	batchCases := []struct {
		name   string
		op     string
		status int
		at     string
	}{
		{"batch: empty record id", `{"type":"create-record","cid":"` + cid + `","collection":"notes","record_id":"","body":{"fields":{}}}`, 400, "/id"},
		{"batch: missing collection", `{"type":"create-record","cid":"` + cid + `","record_id":"x","body":{"fields":{}}}`, 400, "/collection"},
		{"batch: schema", `{"type":"create-record","cid":"` + cid + `","collection":"tasks","record_id":"x","body":{"fields":{"title":1}}}`, 400, "/fields/title"},
		{"batch: replace without if_version", `{"type":"replace-record","cid":"` + cid + `","collection":"tasks","record_id":"t1","body":{"fields":{"title":"a"}}}`, 400, "/if_version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := recordState(t, st, cid)
			status, ae := n.call(t, c.user, c.method, c.path, c.body, nil)
			if ae == nil || status != c.status {
				t.Fatalf("status %d (%v), want %d", status, ae, c.status)
			}
			if ae.Path != c.at {
				t.Errorf("path %q, want %q (%s)", ae.Path, c.at, ae.Message)
			}
			if got := ae.Record != nil; got != c.withRecord {
				t.Errorf("record in the error: %v, want %v", got, c.withRecord)
			}
			if after := recordState(t, st, cid); after != before {
				t.Errorf("a refused write changed the store:\n%s\n%s", before, after)
			}
		})
	}
	for _, c := range batchCases {
		t.Run(c.name, func(t *testing.T) {
			before := recordState(t, st, cid)
			var res protocol.BatchResponse
			n.must(t, "ann", http.MethodPost, protocol.PathBatch, `{"ops":[`+c.op+`]}`, &res)
			r := res.Results[0]
			if r.Error == nil || r.Status != c.status || r.Error.Path != c.at {
				t.Fatalf("result %+v (%v), want status %d at %q", r, r.Error, c.status, c.at)
			}
			if after := recordState(t, st, cid); after != before {
				t.Errorf("a refused op changed the store:\n%s\n%s", before, after)
			}
		})
	}
	if got := len(cases) + len(batchCases); got < 30 {
		t.Fatalf("%d cases, want 30 at least", got)
	}
}

// testRecordConflicts checks the conflict rules: patches of different
// fields both kept; two patches of one field, the later in the log
// winning by default and the stale one refused, with both values, under
// the refuse rule; a replace without a precondition refused; a deleted
// record made again only with its tombstone's version.
func testRecordConflicts(t *testing.T, h Harness) {
	st := h.Open(t)
	n := startNode(t, st, func(c *server.Config) { c.Rules = &testRules })
	cid := n.channel(t, "owner", "conflicts", "ann", "bob")

	t.Run("DisjointPatchesBothKept", func(t *testing.T) {
		r := n.create(t, "ann", cid, "tasks", "d", fields("title", "t"))
		a, ae := n.patch(t, "ann", cid, "tasks", "d", protocol.PatchRecordRequest{Set: fields("done", true), BaseVersion: r.Version})
		if ae != nil {
			t.Fatal(ae)
		}
		b, ae := n.patch(t, "bob", cid, "tasks", "d", protocol.PatchRecordRequest{Set: fields("title", "renamed"), BaseVersion: r.Version})
		if ae != nil {
			t.Fatal(ae)
		}
		if got, want := string(b.Fields["done"])+" "+string(b.Fields["title"]), `true "renamed"`; got != want {
			t.Errorf("fields %s, want %s", got, want)
		}
		if b.FieldVersions["done"] != a.Version || b.FieldVersions["title"] != b.Version || b.Version <= a.Version {
			t.Errorf("versions: record %d, fields %v; want done at %d, title at %d", b.Version, b.FieldVersions, a.Version, b.Version)
		}
	})
	t.Run("SameFieldLaterWins", func(t *testing.T) {
		r := n.create(t, "ann", cid, "tasks", "l", fields("title", "t"))
		// bob's online edit, then ann's offline edit based on the first
		// version: the later in the log wins.
		if _, ae := n.patch(t, "bob", cid, "tasks", "l", protocol.PatchRecordRequest{Set: fields("title", "online"), BaseVersion: r.Version}); ae != nil {
			t.Fatal(ae)
		}
		got, ae := n.patch(t, "ann", cid, "tasks", "l", protocol.PatchRecordRequest{Set: fields("title", "offline"), BaseVersion: r.Version})
		if ae != nil {
			t.Fatal(ae)
		}
		if string(got.Fields["title"]) != `"offline"` || got.FieldVersions["title"] != got.Version {
			t.Errorf("record %+v, want the later title", got)
		}
	})
	t.Run("SameFieldRefused", func(t *testing.T) {
		r := n.create(t, "ann", cid, "strict", "r", fields("title", "t", "n", 1))
		won, ae := n.patch(t, "bob", cid, "strict", "r", protocol.PatchRecordRequest{Set: fields("title", "online"), BaseVersion: r.Version})
		if ae != nil {
			t.Fatal(ae)
		}
		_, ae = n.patch(t, "ann", cid, "strict", "r", protocol.PatchRecordRequest{Set: fields("title", "offline"), BaseVersion: r.Version})
		if ae == nil || ae.Code != protocol.CodeConflict || ae.Conflict == nil {
			t.Fatalf("stale patch: %+v, want a conflict", ae)
		}
		c := ae.Conflict
		if c.Field != "title" || string(c.Yours) != `"offline"` || string(c.Server) != `"online"` || c.ServerVersion != won.Version {
			t.Errorf("conflict %+v, want title offline/online at %d", c, won.Version)
		}
		if ae.Record == nil || ae.Record.Version != won.Version {
			t.Errorf("error's record %+v, want the server's at %d", ae.Record, won.Version)
		}
		// A patch of another field on the same stale base passes, and
		// one based on the new version passes too.
		if _, ae := n.patch(t, "ann", cid, "strict", "r", protocol.PatchRecordRequest{Set: fields("n", 2), BaseVersion: r.Version}); ae != nil {
			t.Errorf("patch of an unchanged field: %v", ae)
		}
		if _, ae := n.patch(t, "ann", cid, "strict", "r", protocol.PatchRecordRequest{Set: fields("title", "rebased"), BaseVersion: won.Version}); ae != nil {
			t.Errorf("patch on the new base: %v", ae)
		}
	})
	t.Run("ReplaceNeedsPrecondition", func(t *testing.T) {
		r := n.create(t, "ann", cid, "notes", "p", fields("a", 1, "b", 2))
		_, ae := n.call(t, "bob", http.MethodPut, recordPath(cid, "notes", "p"), `{"fields":{"a":3}}`, nil)
		if ae == nil || ae.Path != "/if_version" {
			t.Fatalf("blind replace: %v, want refused at /if_version", ae)
		}
		var res protocol.RecordResponse
		n.must(t, "bob", http.MethodPut, recordPath(cid, "notes", "p"), protocol.ReplaceRecordRequest{Fields: fields("a", 3), IfVersion: vp(r.Version)}, &res)
		if got := res.Record; len(got.Fields) != 1 || got.FieldVersions["a"] != got.Version || got.FieldVersions["b"] != got.Version {
			t.Errorf("replaced %+v: want a alone, a and b (unset) at its version", got)
		}
	})
	t.Run("RecreateOnlyWithTombstone", func(t *testing.T) {
		r := n.create(t, "ann", cid, "notes", "z", fields("a", 1))
		var del protocol.RecordResponse
		n.must(t, "ann", http.MethodDelete, recordPath(cid, "notes", "z")+fmt.Sprintf("?if_version=%d", r.Version), nil, &del)
		if !del.Record.Deleted || len(del.Record.Fields) != 0 {
			t.Fatalf("tombstone %+v", del.Record)
		}
		if _, ae := n.call(t, "bob", http.MethodPost, recordPath(cid, "notes", "z"), `{"fields":{"a":2}}`, nil); ae == nil || ae.Code != protocol.CodeConflict {
			t.Fatalf("re-create without the tombstone's version: %v", ae)
		}
		var back protocol.RecordResponse
		n.must(t, "bob", http.MethodPost, recordPath(cid, "notes", "z"), protocol.CreateRecordRequest{Fields: fields("a", 2), IfVersion: del.Record.Version}, &back)
		if back.Record.Deleted || back.Record.CreatedBy != "bob" || back.Record.Version <= del.Record.Version {
			t.Errorf("re-created %+v", back.Record)
		}
	})
}

// testRecordsConcurrent runs writers on two store instances of one
// database (two server nodes), each write sent to both nodes with one
// idempotency key. Every write must apply once, each record's versions
// must rise strictly along its channel's log, and the stored record must
// be the last event's, with each field's version the seq of the last
// event that changed it.
func testRecordsConcurrent(t *testing.T, h Harness) {
	st1 := h.Open(t)
	st2 := h.OpenAgain(t, st1)
	nodes := []*node{startNode(t, st1, nil), startNode(t, st2, nil)} // no rules: free-form
	const writers, writes, records = 4, 25, 3
	var users []string
	for w := range writers {
		users = append(users, fmt.Sprintf("w%d", w))
	}
	cid := nodes[0].channel(t, "owner", "busy", users...)
	for r := range records {
		nodes[0].create(t, "owner", cid, "notes", fmt.Sprintf("r%d", r), fields("init", r))
	}
	errc := make(chan error, writers)
	for w, user := range users {
		go func() {
			errc <- func() error {
				for i := range writes {
					id := fmt.Sprintf("r%d", (w+i)%records)
					// A field of the writer's own and one all share.
					body := protocol.PatchRecordRequest{Set: fields("own"+user, i, "shared", user+fmt.Sprint(i))}
					key := fmt.Sprintf("%s-%d", user, i)
					for _, n := range []*node{nodes[i%2], nodes[(i+1)%2]} {
						if status, ae := n.call(t, user, http.MethodPatch, recordPath(cid, "notes", id), body, nil,
							protocol.HeaderIdempotencyKey, key); ae != nil {
							return fmt.Errorf("%s write %d: %d %v", user, i, status, ae)
						}
					}
				}
				return nil
			}()
		}()
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	var evs []StoredEvent
	var stored []protocol.Record
	err := st2.View(ctx, func(tx server.Tx) error {
		var err error
		if evs, err = tx.ChannelEvents(cid, 0, 100000); err != nil {
			return err
		}
		stored, err = liveRecords(tx, cid, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	type state struct {
		rec    protocol.Record
		fields map[string]int64 // field -> seq of the last event changing it
	}
	byID := map[string]*state{}
	writesSeen := 0
	for _, e := range evs {
		ev, err := protocol.DecodeEvent(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Record == nil {
			continue
		}
		if ev.Type == protocol.EventRecordUpdated {
			writesSeen++
		}
		s := byID[ev.Record.ID]
		if s == nil {
			s = &state{fields: map[string]int64{}}
			byID[ev.Record.ID] = s
		}
		if ev.Record.Version != ev.Seq || ev.Record.Version <= s.rec.Version {
			t.Fatalf("record %s: version %d at seq %d after version %d", ev.Record.ID, ev.Record.Version, ev.Seq, s.rec.Version)
		}
		for _, f := range ev.Changed {
			s.fields[f] = ev.Seq
		}
		s.rec = *ev.Record
	}
	if want := writers * writes; writesSeen != want {
		t.Errorf("%d record.updated events, want %d: every write once", writesSeen, want)
	}
	if len(stored) != records {
		t.Fatalf("%d records stored, want %d", len(stored), records)
	}
	for _, r := range stored {
		s := byID[r.ID]
		got, _ := json.Marshal(r)
		want, _ := json.Marshal(s.rec)
		if !bytes.Equal(got, want) {
			t.Errorf("record %s stored as\n%s\nbut its last event has\n%s", r.ID, got, want)
		}
		for f, v := range s.fields {
			if r.FieldVersions[f] != v {
				t.Errorf("record %s field %s at version %d, want %d", r.ID, f, r.FieldVersions[f], v)
			}
		}
	}
}

// StoredEvent is server.StoredEvent, named here for brevity.
type StoredEvent = server.StoredEvent

// testRecordsPagedState pages a channel's records, anchored at the
// position of the first page, while a writer creates, changes and
// deletes records; then syncs from that position. The records the
// client ends with equal the server's.
func testRecordsPagedState(t *testing.T, h Harness) {
	st := h.Open(t)
	n := startNode(t, st, nil)
	cid := n.channel(t, "owner", "paged", "reader")
	const total = 120
	for i := range total {
		n.create(t, "owner", cid, "notes", fmt.Sprintf("r%03d", i), fields("i", i))
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	wrote := make(chan struct{}, 1) // a write of the writer, for the pager to wait on
	go func() {
		done <- func() error {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return nil
				case wrote <- struct{}{}:
				default:
				}
				id := fmt.Sprintf("r%03d", (i*7)%total)
				path := recordPath(cid, "notes", id)
				var cur protocol.RecordResponse
				if _, ae := n.call(t, "owner", http.MethodGet, path, nil, &cur); ae != nil {
					return ae
				}
				var ae *protocol.APIError
				switch {
				case cur.Record.Deleted:
					_, ae = n.call(t, "owner", http.MethodPost, path, protocol.CreateRecordRequest{Fields: fields("back", i), IfVersion: cur.Record.Version}, nil)
				case i%3 == 0:
					_, ae = n.call(t, "owner", http.MethodDelete, path+fmt.Sprintf("?if_version=%d", cur.Record.Version), nil, nil)
				default:
					_, ae = n.call(t, "owner", http.MethodPatch, path, protocol.PatchRecordRequest{Set: fields("i", -i), BaseVersion: cur.Record.Version}, nil)
				}
				if ae != nil {
					return ae
				}
				if i%5 == 0 {
					path := recordPath(cid, "notes", fmt.Sprintf("r%03d", total+i))
					if _, ae := n.call(t, "owner", http.MethodPost, path, protocol.CreateRecordRequest{Fields: fields("new", i)}, nil); ae != nil {
						return ae
					}
				}
			}
		}()
	}()
	held := map[string]protocol.Record{} // by collection/id
	apply := func(r protocol.Record) {
		k := r.Collection + "/" + r.ID
		if old, ok := held[k]; !ok || r.Version > old.Version {
			held[k] = r
		}
	}
	var anchor *protocol.Position
	after := ""
	for pages := 0; ; pages++ {
		path := "/channels/" + cid + "/records?limit=7"
		if after != "" {
			path += "&after=" + after
		}
		var page protocol.RecordsResponse
		n.must(t, "reader", http.MethodGet, path, nil, &page)
		if anchor == nil {
			anchor = page.Position
		}
		for _, r := range page.Records {
			apply(r)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
		// Let the writer change the records between two pages.
		select {
		case <-wrote:
		case err := <-done:
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pos := *anchor
	for {
		var res protocol.SyncResponse
		n.must(t, "reader", http.MethodPost, protocol.PathSync, protocol.SyncRequest{Version: protocol.Version,
			Channels: []protocol.ChannelPosition{{CID: cid, Position: pos}}, Limit: 50}, &res)
		for _, ev := range res.Events {
			if ev.Record != nil {
				apply(*ev.Record)
			}
		}
		if len(res.Channels) == 0 || res.Channels[0].Position == nil {
			break
		}
		if res.Channels[0].Status != protocol.ChannelOK {
			t.Fatalf("sync: %+v", res.Channels[0])
		}
		pos = *res.Channels[0].Position
	}
	var want []protocol.Record
	if err := st.View(ctx, func(tx server.Tx) error {
		var err error
		want, err = liveRecords(tx, cid, 100000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var got []protocol.Record
	for _, k := range slices.Sorted(maps.Keys(held)) {
		if !held[k].Deleted {
			got = append(got, held[k])
		}
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("client's records (%d) differ from the server's (%d)", len(got), len(want))
	}
}

// testRecordRulesAcrossNodes installs rules through one of three nodes
// of one database: the other two judge their next write by them, without
// a restart. New rules that do not compile are refused and the rules in
// force stay.
func testRecordRulesAcrossNodes(t *testing.T, h Harness) {
	st1 := h.Open(t)
	nodes := []*node{startNode(t, st1, nil), startNode(t, h.OpenAgain(t, st1), nil), startNode(t, h.OpenAgain(t, st1), nil)}
	cid := nodes[0].channel(t, "owner", "rules", "ann")
	// Without rules, any collection takes free-form records.
	for i, n := range nodes {
		n.create(t, "ann", cid, "anything", fmt.Sprintf("free%d", i), fields("x", i))
	}
	v, hash, err := nodes[0].srv.InstallRules(ctx, testRules)
	if err != nil || v != 1 || hash == "" {
		t.Fatalf("install: version %d, hash %q, %v", v, hash, err)
	}
	for i, n := range nodes[1:] {
		if _, ae := n.call(t, "ann", http.MethodPost, recordPath(cid, "anything", fmt.Sprintf("late%d", i)), `{"fields":{}}`, nil); ae == nil || ae.Path != "/collection" {
			t.Errorf("node %d took a record of a collection the new rules do not know: %v", i+1, ae)
		}
		if _, ae := n.call(t, "ann", http.MethodPost, recordPath(cid, "tasks", fmt.Sprintf("t%d", i)), `{"fields":{"title":1}}`, nil); ae == nil || ae.Path != "/fields/title" {
			t.Errorf("node %d took a record the new schema refuses: %v", i+1, ae)
		}
		n.create(t, "ann", cid, "tasks", fmt.Sprintf("t%d", i), fields("title", "ok"))
		if got, gv, err := n.srv.RulesHash(ctx); err != nil || got != hash || gv != v {
			t.Errorf("node %d: rules %q version %d (%v), want %q version %d", i+1, got, gv, err, hash, v)
		}
	}
	// The same rules again are no new version.
	if again, _, err := nodes[2].srv.InstallRules(ctx, testRules); err != nil || again != v {
		t.Errorf("same rules again: version %d, %v; want %d", again, err, v)
	}
	bad := server.Rules{Collections: map[string]server.CollectionRules{"tasks": {Schema: json.RawMessage(`{"type": "nosuchtype"}`)}}}
	if _, _, err := nodes[1].srv.InstallRules(ctx, bad); err == nil {
		t.Fatal("rules with a bad schema installed")
	}
	if _, gv, _ := nodes[0].srv.RulesHash(ctx); gv != v {
		t.Errorf("rules version %d after a refused install, want %d", gv, v)
	}
}

// testRecordsWithChannel checks that a truncate leaves a channel's
// records alone and that deleting the channel removes them for everyone.
func testRecordsWithChannel(t *testing.T, h Harness) {
	st := h.Open(t)
	n := startNode(t, st, nil)
	cid := n.channel(t, "owner", "doomed", "ann")
	n.create(t, "ann", cid, "notes", "a", fields("x", 1))
	n.create(t, "ann", cid, "notes", "b", fields("x", 2))
	count := func() int {
		var recs []protocol.Record
		if err := st.View(ctx, func(tx server.Tx) error {
			var err error
			recs, err = liveRecords(tx, cid, 100)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	n.must(t, "owner", http.MethodPost, "/channels/"+cid+"/truncate", nil, nil)
	if got := count(); got != 2 {
		t.Fatalf("%d records after a truncate, want 2", got)
	}
	n.must(t, "owner", http.MethodDelete, "/channels/"+cid, nil, nil)
	if got := count(); got != 0 {
		t.Fatalf("%d records after the channel's deletion, want 0", got)
	}
	if _, err := storedRecord(t, st, cid, "notes", "a"); err != server.ErrNotFound {
		t.Fatalf("record of a deleted channel: %v", err)
	}
}

// testRecordsOutliveRetention: records never age out with the log's
// retention window; only the log is pruned.
func testRecordsOutliveRetention(t *testing.T, h Harness) {
	st := h.Open(t)
	n := startNode(t, st, nil)
	cid := n.channel(t, "owner", "old", "ann")
	n.create(t, "ann", cid, "notes", "a", fields("x", 1))
	if _, err := st.Prune(ctx, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if lg := channelLog(t, st, cid); lg.PrunedSeq != lg.LastSeq {
		t.Fatalf("log %+v not pruned whole", lg)
	}
	if r, err := storedRecord(t, st, cid, "notes", "a"); err != nil || string(r.Fields["x"]) != "1" {
		t.Fatalf("record after pruning: %+v, %v", r, err)
	}
}
