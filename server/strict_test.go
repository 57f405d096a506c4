package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// jsonEndpoints lists every endpoint that reads a JSON body, with a body it
// accepts from alice in the fixture of TestStrict_ContentType.
var jsonEndpoints = []struct{ method, path, body string }{
	{"POST", "/sync", `{}`}, // refused for its content, not its type
	{"POST", "/channels", `{"type":"team","id":"general"}`},
	{"POST", "/channels/query", `{}`},
	{"POST", "/channels/team:general/members", `{"user_ids":["bob"]}`},
	{"POST", "/channels/team:general/messages", `{"message":{"id":"m2","text":"hi"}}`},
	{"POST", "/channels/team:general/read", `{}`},
	{"POST", "/channels/team:general/unread", `{"message_id":"m1"}`},
	{"POST", "/channels/team:general/events", `{"type":"typing.start"}`},
	{"PUT", "/messages/m1", `{"text":"edited"}`},
	{"POST", "/messages/m1/reactions", `{"type":"like"}`},
	{"PUT", protocol.PathMe, `{"name":"Alice"}`},
	{"POST", "/batch", `{"ops":[{"type":"mark-read","cid":"team:general","body":{}}]}`},
}

// TestStrict_ContentType: a JSON endpoint refuses a body of another
// content type with 415 and the JSON error body, and takes
// application/json with or without charset=utf-8.
func TestStrict_ContentType(t *testing.T) {
	ts := startServer(t, nil)
	createChannel(t, ts, "alice", "general", "bob")
	sendMsg(t, ts, "alice", "team:general", "m1", "hello")
	auth := "Bearer " + tokenFor(t, "alice")
	for _, e := range jsonEndpoints {
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
			"application/json; charset=latin1", "application/jsonx", "text/json", "garbage;;"} {
			status, body := rawCall(t, ts, e.method, e.path, auth, e.body, "Content-Type", ct)
			var ae protocol.APIError
			if err := json.Unmarshal([]byte(body), &ae); err != nil || status != http.StatusUnsupportedMediaType ||
				ae.Code != protocol.CodeUnsupportedMediaType || ae.StatusCode != status {
				t.Errorf("%s %s as %q: %d %s, want 415 code %d", e.method, e.path, ct, status, body, protocol.CodeUnsupportedMediaType)
			}
		}
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"} {
			status, body := rawCall(t, ts, e.method, e.path, auth, e.body, "Content-Type", ct)
			if e.path == "/sync" && status != http.StatusUnsupportedMediaType && status < 500 {
				continue
			}
			if status >= 300 {
				t.Errorf("%s %s as %q: %d %s, want success", e.method, e.path, ct, status, body)
			}
		}
	}
	var ae protocol.APIError
	if err := json.Unmarshal([]byte(`{"code":42}`), &ae); err != nil {
		t.Fatal(err)
	}
	if ae.StatusCode = protocol.StatusForCode(ae.Code); ae.Temporary() || ae.StatusCode != 415 {
		t.Errorf("code 42: status %d, temporary %v; want 415, permanent", ae.StatusCode, ae.Temporary())
	}
}

// TestStrict_DuplicateKeys: a body that repeats a key, at any depth, is a
// 400 and changes nothing.
func TestStrict_DuplicateKeys(t *testing.T) {
	ts := startServer(t, nil)
	createChannel(t, ts, "alice", "general", "bob")
	sendMsg(t, ts, "alice", "team:general", "m1", "hello")
	auth := "Bearer " + tokenFor(t, "alice")
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/channels/team:general/messages", `{"message":{"id":"d1","text":"a","text":"b"}}`},
		{"POST", "/channels/team:general/messages", `{"message":{"id":"d2","text":"a"},"message":{"id":"d3","text":"b"}}`},
		{"POST", "/channels/team:general/messages", `{"message":{"id":"d4","text":"a","extra":{"k":1,"k":2}}}`},
		{"PUT", "/messages/m1", `{"text":"a","text":"b"}`},
		{"POST", "/channels", `{"type":"team","id":"dup","id":"dup2"}`},
		{"PUT", protocol.PathMe, `{"name":"a","name":"b"}`},
		{"POST", "/batch", `{"ops":[{"type":"send-message","cid":"team:general","body":{"message":{"id":"d5","text":"a","text":"b"}}}]}`},
		{"POST", "/sync", `{"limit":1,"limit":2}`},
	} {
		status, body := rawCall(t, ts, c.method, c.path, auth, c.body)
		var ae protocol.APIError
		if err := json.Unmarshal([]byte(body), &ae); err != nil || status != http.StatusBadRequest || ae.Code != protocol.CodeInput ||
			!strings.Contains(ae.Message, "duplicate key") {
			t.Errorf("%s %s %s: %d %s, want 400 duplicate key", c.method, c.path, c.body, status, body)
		}
	}
	var page protocol.MessagesResponse
	ts.must(t, "alice", "GET", "/channels/team:general/messages", nil, &page)
	if len(page.Messages) != 1 || page.Messages[0].Text != "hello" {
		t.Errorf("messages after refused writes: %+v, want only m1 unchanged", page.Messages)
	}
}

// TestStrict_FieldBounds: every free-form string has a bound, and over it
// is a 400; at the bound is accepted.
func TestStrict_FieldBounds(t *testing.T) {
	ts := startServer(t, nil)
	createChannel(t, ts, "alice", "general")
	extra := func(n int) json.RawMessage { // an object of exactly n bytes
		return json.RawMessage(`{"k":"` + strings.Repeat("x", n-8) + `"}`)
	}
	for _, c := range []struct {
		name, method, path string
		body               any
		ok                 bool
	}{
		{"channel name 900 KB", "POST", "/channels", protocol.CreateChannelRequest{Type: "team", ID: "big", Name: strings.Repeat("n", 900<<10)}, false},
		{"channel name over", "POST", "/channels", protocol.CreateChannelRequest{Type: "team", ID: "big", Name: strings.Repeat("n", server.MaxNameBytes+1)}, false},
		{"channel name control", "POST", "/channels", protocol.CreateChannelRequest{Type: "team", ID: "big", Name: "a\nb"}, false},
		{"channel name at bound", "POST", "/channels", protocol.CreateChannelRequest{Type: "team", ID: "big", Name: strings.Repeat("n", server.MaxNameBytes)}, true},
		{"channel extra over", "POST", "/channels", protocol.CreateChannelRequest{Type: "team", ID: "x1", Extra: extra(server.MaxExtraBytes + 1)}, false},
		{"channel extra at bound", "POST", "/channels", protocol.CreateChannelRequest{Type: "team", ID: "x2", Extra: extra(server.MaxExtraBytes)}, true},
		{"user name over", "PUT", protocol.PathMe, protocol.UpdateUserRequest{Name: strings.Repeat("n", server.MaxNameBytes+1)}, false},
		{"user image over", "PUT", protocol.PathMe, protocol.UpdateUserRequest{Image: strings.Repeat("i", server.MaxImageBytes+1)}, false},
		{"user extra over", "PUT", protocol.PathMe, protocol.UpdateUserRequest{Extra: extra(server.MaxExtraBytes + 1)}, false},
		{"user at bounds", "PUT", protocol.PathMe, protocol.UpdateUserRequest{Name: strings.Repeat("n", server.MaxNameBytes),
			Image: strings.Repeat("i", server.MaxImageBytes), Extra: extra(server.MaxExtraBytes)}, true},
		{"message text over", "POST", "/channels/team:general/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "t1", Text: strings.Repeat("t", protocol.MaxTextBytes+1)}}, false},
		{"message extra over", "POST", "/channels/team:general/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "t2", Text: "x", Extra: extra(server.MaxExtraBytes + 1)}}, false},
		{"reaction extra over", "POST", "/messages/t3/reactions", protocol.SendReactionRequest{Type: "like", Extra: extra(server.MaxExtraBytes + 1)}, false},
		{"idempotency key over", "PUT", protocol.PathMe, protocol.UpdateUserRequest{Name: "a"}, false},
		{"read message_id over", "POST", "/channels/team:general/read", protocol.MarkReadRequest{MessageID: strings.Repeat("m", 900<<10)}, false},
		{"role over", "PUT", "/channels/team:general/members/alice/role", protocol.SetRoleRequest{Role: strings.Repeat("r", 900<<10)}, false},
		{"new channel name over", "PUT", "/channels/team:general", protocol.UpdateChannelRequest{Name: strings.Repeat("n", 900<<10)}, false},
		{"new channel extra over", "PUT", "/channels/team:general", protocol.UpdateChannelRequest{Name: "x", Extra: extra(server.MaxExtraBytes + 1)}, false},
	} {
		var headers []string
		if c.name == "idempotency key over" {
			headers = []string{protocol.HeaderIdempotencyKey, strings.Repeat("k", 201)}
		}
		ae := ts.call(t, "alice", c.method, c.path, c.body, nil, headers...)
		switch {
		case c.ok && ae != nil:
			t.Errorf("%s: %v, want success", c.name, ae)
		case !c.ok && (ae == nil || ae.StatusCode != http.StatusBadRequest || ae.Code != protocol.CodeInput):
			t.Errorf("%s: %v, want 400 code 4", c.name, ae)
		}
	}
}
