package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/token"
)

// endpoints lists every endpoint with a valid path for the fixture.
var endpoints = []struct{ method, path string }{
	{"POST", "/sync"},
	{"POST", "/channels"},
	{"POST", "/channels/query"},
	{"GET", "/channels/team:general"},
	{"POST", "/channels/team:general/members"},
	{"DELETE", "/channels/team:general/members/bob"},
	{"POST", "/channels/team:general/messages"},
	{"GET", "/channels/team:general/messages"},
	{"GET", "/channels/team:general/history"},
	{"POST", "/channels/team:general/read"},
	{"POST", "/channels/team:general/unread"},
	{"POST", "/channels/team:general/events"},
	{"PUT", "/messages/m1"},
	{"DELETE", "/messages/m1"},
	{"POST", "/messages/m1/undelete"},
	{"POST", "/messages/m1/reactions"},
	{"DELETE", "/messages/m1/reactions/like"},
	{"PUT", protocol.PathMe},
	{"POST", "/batch"},
	{"PUT", "/channels/team:general/members/bob/role"},
	{"PUT", "/channels/team:general"},
	{"POST", "/channels/team:general/truncate"},
	{"DELETE", "/channels/team:general"},
	{"GET", "/connect"},
}

// rawCall sends body as it is with auth as the Authorization header (none
// when "") and returns the status and body, whatever they are.
func rawCall(tb testing.TB, ts *testServer, method, path, auth, body string, headers ...string) (int, string) {
	tb.Helper()
	if auth != "" {
		headers = append([]string{"Authorization", auth}, headers...)
	}
	resp, data := apitest.Do(tb, method, ts.URL+path, "", body, headers...)
	return resp.StatusCode, string(data)
}

// TestBadInput_NeverA5xx sends a table of broken requests to every
// endpoint: each must get a 4xx with the JSON error body.
func TestBadInput_NeverA5xx(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxBodyBytes = 4 << 10 })
	createChannel(t, ts, "alice", "general", "bob")
	sendMsg(t, ts, "alice", "team:general", "m1", "hello")
	good := "Bearer " + tokenFor(t, "alice")
	expired, _ := token.IssueAt(secret, "alice", time.Minute, time.Now().Add(-time.Hour))
	forged, _ := token.Issue([]byte("not-the-secret"), "alice", time.Hour)
	bodies := map[string]string{
		"empty":         ``,
		"not json":      `hello`,
		"truncated":     `{"message":{"id":"x","text":"hi"`,
		"array":         `[1,2,3]`,
		"wrong types":   `{"channel_cids":"x","last_sync_at":5,"limit":"a","message":1,"type":7,"user_ids":{},"text":[]}`,
		"unknown field": `{"bogus":true}`,
		"nulls":         `{"message":null,"channel_cids":null,"last_sync_at":null}`,
		"huge":          `{"text":"` + strings.Repeat("a", 8<<10) + `"}`,
		"bad ids":       `{"type":"a b","id":"'; DROP TABLE channels;--","message":{"id":"../..","text":"x"},"user_ids":["é"],"message_id":"x y"}`,
		"trailing":      `{} {}`,
		"deep":          strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		"bad time":      `{"version":2,"channels":[],"last_sync_at":"yesterday"}`,
		"bad position":  `{"version":2,"channels":[{"cid":"team:general","epoch":"a b","seq":-1}],"feed":{"seq":1e300}}`,
		"bad cids":      `{"version":2,"cids":["x","team:general","team:general"],"channels":[{"cid":"team:general"},{"cid":"team:general"}]}`,
		"negative":      `{"limit":-5,"offset":-1,"message_limit":-2}`,
		"invalid utf8":  "{\"text\":\"\xff\xfe\"}",
	}
	auths := map[string]string{"good": good, "none": "", "garbage": "Bearer nonsense", "expired": "Bearer " + expired,
		"forged": "Bearer " + forged, "basic": "Basic YWxpY2U6eA=="}
	for _, ep := range endpoints {
		for aname, auth := range auths {
			for bname, body := range bodies {
				if aname != "good" && bname != "empty" {
					continue // auth is checked first; one body is enough
				}
				status, resp := rawCall(t, ts, ep.method, ep.path, auth, body)
				if status >= 500 || (status >= 300 && !strings.Contains(resp, `"status_code"`)) {
					t.Errorf("%s %s auth=%s body=%s: %d %s", ep.method, ep.path, aname, bname, status, resp)
				}
				if aname != "good" && status != 401 {
					t.Errorf("%s %s with %s auth: %d, want 401", ep.method, ep.path, aname, status)
				}
			}
		}
	}
	// Bad paths, methods and query strings.
	for _, c := range []struct{ method, path string }{
		{"GET", "/nope"}, {"PATCH", "/channels"}, {"GET", "/channels/nocolon"}, {"GET", "/channels/a:b:c/messages"},
		{"GET", "/channels/team:general/messages?limit=x"}, {"GET", "/channels/team:general/messages?limit=100000"},
		{"GET", "/channels/team:general/messages?before=nope"}, {"DELETE", "/messages/m1?hard=maybe"},
		{"GET", "/channels/team:general/messages?id_lt=m1"}, {"POST", "/sync?x=1"},
		{"DELETE", "/messages/nope"}, {"DELETE", "/messages/m1/reactions/nope"}, {"GET", "/channels/team:unknown"},
		{"POST", "/messages/" + strings.Repeat("x", 300) + "/reactions"},
	} {
		status, resp := rawCall(t, ts, c.method, c.path, good, `{"type":"like"}`)
		if status < 400 || status >= 500 || !strings.Contains(resp, `"code"`) {
			t.Errorf("%s %s: %d %s, want a 4xx error body", c.method, c.path, status, resp)
		}
	}
	// Expired tokens get code 40, so a client knows to refresh.
	if ae := ts.call(t, "", "GET", "/channels/team:general", nil, nil, "Authorization", "Bearer "+expired); ae == nil || ae.Code != protocol.CodeTokenExpired {
		t.Errorf("expired token: %v, want code 40", ae)
	}
	// Over the body limit: 413 with code 22.
	status, resp := rawCall(t, ts, "POST", "/channels/team:general/messages", good, `{"message":{"id":"big","text":"`+strings.Repeat("a", 8<<10)+`"}}`)
	if status != 413 || !strings.Contains(resp, `"code":22`) {
		t.Errorf("oversized body: %d %s, want 413 code 22", status, resp)
	}
}

// FuzzRequests sends arbitrary bodies to the endpoints that decode one:
// the server answers below 500, always with a JSON error body on failure.
func FuzzRequests(f *testing.F) {
	for _, s := range []string{
		`{"message":{"id":"m9","text":"hi"}}`,
		`{"version":2,"channels":[{"cid":"team:general","epoch":"e","seq":2,"event_id":"x"}],"limit":2}`,
		`{"version":2,"feed":{"epoch":"e","seq":1,"event_id":"x"},"channels":[{"cid":"team:general"}]}`,
		`{"cids":["team:general","team:nope"],"message_limit":5}`,
		`{"type":"team","id":"x","members":["bob"]}`,
		`{"type":"like","score":3,"extra":{"a":1}}`,
		`{"user_ids":["carol"]}`, `{"text":"edit"}`, `{"message_id":"m1"}`, `{"type":"typing.start"}`,
		`{}`, `null`, `[`, `{"extra":[1]}`,
		`{"ops":[{"type":"send-message","cid":"team:general","body":{"message":{"id":"b1","text":"hi"}}}]}`,
		`{"ops":[{"type":"delete-reaction","message_id":"m1","key":"k","body":{"type":"like"}},{"type":"nope"}]}`,
	} {
		for i := range endpoints {
			f.Add(uint8(i), s)
		}
	}
	ts := startServer(f, nil)
	createChannel(f, ts, "alice", "general", "bob")
	sendMsg(f, ts, "alice", "team:general", "m1", "hello")
	auth := "Bearer " + tokenFor(f, "alice")
	f.Fuzz(func(t *testing.T, ep uint8, body string) {
		e := endpoints[int(ep)%len(endpoints)]
		if e.path == "/connect" {
			return
		}
		status, resp := rawCall(t, ts, e.method, e.path, auth, body)
		if status >= 500 {
			t.Fatalf("%s %s %q: %d %s", e.method, e.path, body, status, resp)
		}
		if status >= 300 && !strings.Contains(resp, `"status_code"`) {
			t.Fatalf("%s %s %q: %d without an error body: %s", e.method, e.path, body, status, resp)
		}
	})
}
