package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

func recPath(cid, coll, id string) string {
	return fmt.Sprintf("/channels/%s/records/%s/%s", cid, coll, id)
}

func jsonFields(tb testing.TB, s string) map[string]json.RawMessage {
	tb.Helper()
	var f map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		tb.Fatal(err)
	}
	return f
}

// TestRecords_StartupLogSaysFreeForm: a server without rules says in its
// start-up log that it takes free-form records.
func TestRecords_StartupLogSaysFreeForm(t *testing.T) {
	var logs logtest.Buffer
	startServer(t, func(c *server.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	if !strings.Contains(logs.String(), "records are free-form") {
		t.Errorf("start-up log does not say records are free-form:\n%s", logs.String())
	}
}

// TestRecords_CheckHookRefuses: Config.RecordCheck sees each record write
// with its channel, user, role and the record before and after (with the
// versions it will take), and a refusal is a 403 with its reason and
// path, nothing stored.
func TestRecords_CheckHookRefuses(t *testing.T) {
	var mu sync.Mutex
	var seen []server.RecordWrite
	ts := startServer(t, func(c *server.Config) {
		c.RecordCheck = func(w server.RecordWrite) error {
			mu.Lock()
			seen = append(seen, w)
			mu.Unlock()
			if string(w.After.Fields["title"]) == `"forbidden"` {
				return &server.RefusedError{Path: "/fields/title", Reason: "that title is taken"}
			}
			if w.Op == protocol.OpDeleteRecord && w.Role != protocol.RoleOwner {
				return errors.New("only the owner deletes")
			}
			return nil
		}
	})
	cid := createChannel(t, ts, "owner", "hook", "ann").Channel.CID
	var rec protocol.RecordResponse
	ts.must(t, "ann", "POST", recPath(cid, "notes", "a"), protocol.CreateRecordRequest{Fields: jsonFields(t, `{"title":"ok"}`)}, &rec)
	ae := ts.call(t, "ann", "PATCH", recPath(cid, "notes", "a"), `{"set":{"title":"forbidden"}}`, nil)
	if ae == nil || ae.StatusCode != http.StatusForbidden || ae.Path != "/fields/title" || !strings.Contains(ae.Message, "that title is taken") ||
		ae.Record == nil || ae.Record.Version != rec.Record.Version {
		t.Fatalf("refused patch: %+v", ae)
	}
	ae = ts.call(t, "ann", "DELETE", recPath(cid, "notes", "a")+fmt.Sprintf("?if_version=%d", rec.Record.Version), nil, nil)
	if ae == nil || ae.StatusCode != http.StatusForbidden || !strings.Contains(ae.Message, "only the owner deletes") {
		t.Fatalf("refused delete: %+v", ae)
	}
	var got protocol.RecordResponse
	ts.must(t, "ann", "GET", recPath(cid, "notes", "a"), nil, &got)
	if got.Record.Version != rec.Record.Version || string(got.Record.Fields["title"]) != `"ok"` {
		t.Errorf("record after refusals: %+v", got.Record)
	}
	ts.must(t, "owner", "DELETE", recPath(cid, "notes", "a")+fmt.Sprintf("?if_version=%d", rec.Record.Version), nil, &got)
	mu.Lock()
	defer mu.Unlock()
	first, last := seen[0], seen[len(seen)-1]
	if first.Op != protocol.OpCreateRecord || first.Before != nil || first.User != "ann" || first.Role != protocol.RoleMember ||
		first.CID != cid || first.After.Version != rec.Record.Version || first.After.FieldVersions["title"] != rec.Record.Version {
		t.Errorf("the create as the hook saw it: %+v", first)
	}
	if last.Op != protocol.OpDeleteRecord || last.Before == nil || !last.After.Deleted || last.After.Version != got.Record.Version ||
		strings.Join(last.Changed, ",") != "title" {
		t.Errorf("the delete as the hook saw it: %+v", last)
	}
}

// TestRecords_EventsCarryTheRecord: record events carry the record after
// the write and the fields it changed, live and in sync; a batch of
// record ops applies once per idempotency key.
func TestRecords_EventsCarryTheRecord(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "owner", "ev", "ann", "bob").Channel.CID
	ws := ts.dial(t, "bob")
	defer ws.close()
	batch := fmt.Sprintf(`{"ops":[
		{"type":"create-record","key":"k1","cid":%[1]q,"collection":"tasks","record_id":"t1","body":{"fields":{"title":"a","done":false}}},
		{"type":"patch-record","key":"k2","cid":%[1]q,"collection":"tasks","record_id":"t1","body":{"set":{"done":true},"unset":["title"],"base_version":0}}]}`, cid)
	var first, again protocol.BatchResponse
	ts.must(t, "ann", "POST", protocol.PathBatch, batch, &first)
	ts.must(t, "ann", "POST", protocol.PathBatch, batch, &again)
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) || first.Results[1].Record == nil {
		t.Fatalf("batch repeated: %s\nthen %s", a, b)
	}
	created := ws.next(t)
	if created.Type != protocol.EventRecordCreated || created.Record == nil || strings.Join(created.Changed, ",") != "done,title" {
		t.Fatalf("first event %+v", created)
	}
	patched := ws.next(t)
	r := patched.Record
	if patched.Type != protocol.EventRecordUpdated || strings.Join(patched.Changed, ",") != "done,title" ||
		r.Version != patched.Seq || string(r.Fields["done"]) != "true" || len(r.Fields) != 1 ||
		r.FieldVersions["title"] != patched.Seq || r.FieldVersions["done"] != patched.Seq {
		t.Fatalf("patch event %+v, record %+v", patched, r)
	}
	ws.none(t, 100*time.Millisecond)
}

// TestSync_PagesBoundedByBytes: large records cannot make a sync page
// huge: a page ends before the event that would take it over
// SyncPageMaxBytes (one event at least), and paging still brings every
// event of every channel, once.
func TestSync_PagesBoundedByBytes(t *testing.T) {
	const maxBytes = 16 << 10
	ts := startServer(t, func(c *server.Config) { c.SyncPageMaxBytes = maxBytes })
	var cids []string
	for _, id := range []string{"a", "b", "c"} {
		cids = append(cids, createChannel(t, ts, "owner", id).Channel.CID)
	}
	big := strings.Repeat("x", 5000)
	for i := range 12 {
		for _, cid := range cids {
			ts.must(t, "owner", "POST", recPath(cid, "notes", fmt.Sprint("r", i)),
				protocol.CreateRecordRequest{Fields: jsonFields(t, `{"body":"`+big+`"}`)}, nil)
		}
	}
	// One page by hand: within the bound.
	req := protocol.SyncRequest{Version: protocol.Version, Limit: 1000}
	for _, cid := range cids {
		req.Channels = append(req.Channels, protocol.ChannelPosition{CID: cid, Position: protocol.Position{Epoch: epochOf(t, ts, "owner", cid)}})
	}
	var raw json.RawMessage
	ts.must(t, "owner", "POST", protocol.PathSync, req, &raw)
	var page protocol.SyncResponse
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	if !page.More || len(page.Events) == 0 || len(raw) > maxBytes+4096 {
		t.Fatalf("first page: %d bytes, %d events, more %v", len(raw), len(page.Events), page.More)
	}
	for _, cs := range page.Channels {
		if cs.Status == protocol.ChannelOK && cs.Position == nil {
			t.Fatalf("channel %s served without a position", cs.CID)
		}
	}
	events, _ := syncAll(t, ts, "owner", cids, 1000)
	seen := map[string]int{}
	for _, ev := range events {
		if ev.Record != nil {
			seen[ev.CID+"/"+ev.Record.ID]++
		}
	}
	if len(seen) != 36 {
		t.Fatalf("%d records synced, want 36", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s synced %d times", k, n)
		}
	}
}

// TestRecords_HelloNamesTheRules: the hello of every sync answer and
// WebSocket names the record rules in force, from the next answer after
// an install.
func TestRecords_HelloNamesTheRules(t *testing.T) {
	ts := startServer(t, nil)
	hello := func() *protocol.Hello {
		var res protocol.SyncResponse
		ts.must(t, "ann", "POST", protocol.PathSync, protocol.SyncRequest{Version: protocol.Version}, &res)
		return res.Hello
	}
	if h := hello(); h == nil || h.RulesHash != "" || h.RulesVersion != 0 {
		t.Fatalf("hello without rules: %+v", h)
	}
	v, hash, err := ts.srv.InstallRules(t.Context(), server.Rules{Collections: map[string]server.CollectionRules{"notes": {}}})
	if err != nil {
		t.Fatal(err)
	}
	if h := hello(); h == nil || h.RulesHash != hash || h.RulesVersion != v {
		t.Errorf("sync hello %+v, want rules %s version %d", h, hash, v)
	}
	ws := ts.dial(t, "ann")
	defer ws.close()
	if h := ws.first.Hello; h == nil || h.RulesHash != hash {
		t.Errorf("WebSocket hello %+v, want rules %s", h, hash)
	}
}

// TestRecords_PageIsItsResponseEncoded: a page of a channel's records is,
// byte for byte, protocol.RecordsResponse as encoding/json writes it (the
// stored records go out as they are): its records, position and next,
// and an empty list, not null, for a channel without records.
func TestRecords_PageIsItsResponseEncoded(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "owner", "paged", "ann").Channel.CID
	empty := createChannel(t, ts, "owner", "empty").Channel.CID
	for _, id := range []string{"a", "b", "c"} {
		ts.must(t, "ann", "POST", recPath(cid, "notes", id),
			protocol.CreateRecordRequest{Fields: jsonFields(t, `{"title":"<`+id+`> & more","n":[1, 2]}`)}, nil)
	}
	for _, tc := range []struct {
		path    string
		records int
		next    string
	}{
		{"/channels/" + cid + "/records?limit=2", 2, "notes/b"},
		{"/channels/" + cid + "/records?limit=2&after=notes/b", 1, ""},
		{"/channels/" + empty + "/records", 0, ""},
	} {
		var raw json.RawMessage
		ts.must(t, "owner", "GET", tc.path, nil, &raw)
		var page protocol.RecordsResponse
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&page); err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if len(page.Records) != tc.records || page.Next != tc.next || page.Position == nil || page.Records == nil {
			t.Fatalf("%s: %d records, next %q, position %v, records nil %v", tc.path, len(page.Records), page.Next, page.Position, page.Records == nil)
		}
		want, err := json.Marshal(page)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.TrimSpace(raw), want) {
			t.Errorf("%s: body\n%s\nwant\n%s", tc.path, raw, want)
		}
	}
}
