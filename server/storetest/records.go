package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// call makes a request as user with a JSON body (a string is sent as
// is) and decodes a 2xx answer into out. It returns the status and, for
// a 4xx, the API error; a 5xx fails the test.
func (n *node) call(t testing.TB, user, method, path string, body any, out any, headers ...string) (int, *protocol.APIError) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, n.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := token.Issue(recordSecret, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, data)
	}
	if resp.StatusCode >= 300 {
		var ae protocol.APIError
		if err := json.Unmarshal(data, &ae); err != nil || ae.StatusCode != resp.StatusCode {
			t.Fatalf("%s %s: status %d, body not an API error: %s", method, path, resp.StatusCode, data)
		}
		return resp.StatusCode, &ae
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, nil
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
