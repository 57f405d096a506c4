package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// rateLimited checks a 429 answer: the JSON error body with code 9 and a
// Retry-After of at least a second.
func rateLimited(t *testing.T, status int, body string, header http.Header) {
	t.Helper()
	var ae protocol.APIError
	if err := json.Unmarshal([]byte(body), &ae); err != nil || status != http.StatusTooManyRequests ||
		ae.Code != protocol.CodeRateLimited || ae.StatusCode != status {
		t.Fatalf("got %d %s, want 429 code %d", status, body, protocol.CodeRateLimited)
	}
	if secs, err := strconv.Atoi(header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After = %q, want whole seconds >= 1", header.Get("Retry-After"))
	}
	if ae.StatusCode = protocol.StatusForCode(ae.Code); !ae.Temporary() {
		t.Errorf("a 429 is not temporary")
	}
}

func doRaw(t *testing.T, ts *testServer, user, method, path string, body any) (int, string, http.Header) {
	t.Helper()
	payload, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(string(payload)))
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, user))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header
}

// TestRateLimit_Writes: a user over the write burst gets 429 with
// Retry-After, and another user writing at the same time does not; a
// batch costs one write, whatever its ops.
func TestRateLimit_Writes(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.WritesPerSecond, c.WriteBurst = 0.001, 5 }) // no refill within the test
	createChannel(t, ts, "alice", "a")                                                          // 1 of alice's 5
	createChannel(t, ts, "bob", "b")                                                            // 1 of bob's 5
	for i := range 4 {                                                                          // alice's 2..5
		sendMsg(t, ts, "alice", "team:a", fmt.Sprintf("a%d", i), "x")
	}
	status, body, h := doRaw(t, ts, "alice", "POST", "/channels/team:a/messages",
		protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "a-over", Text: "x"}})
	rateLimited(t, status, body, h)
	// Bob is not slowed by alice.
	for i := range 4 {
		sendMsg(t, ts, "bob", "team:b", fmt.Sprintf("b%d", i), "y")
	}
	// Reads are not limited.
	ts.must(t, "alice", "GET", "/channels/team:a", nil, nil)
	// Nothing of the refused write was stored.
	var got protocol.MessagesResponse
	ts.must(t, "alice", "GET", "/channels/team:a/messages", nil, &got)
	if len(got.Messages) != 4 {
		t.Errorf("alice's channel holds %d messages, want 4", len(got.Messages))
	}

	// A batch of 3 ops takes 1 of carol's 5: four batches pass, the
	// fifth is over.
	createChannel(t, ts, "carol", "c") // 1
	ops := func(prefix string) protocol.BatchRequest {
		var req protocol.BatchRequest
		for i := range 3 {
			req.Ops = append(req.Ops, protocol.BatchOp{Type: protocol.OpSendMessage, CID: "team:c",
				Body: json.RawMessage(fmt.Sprintf(`{"message":{"id":"%s%d","text":"z"}}`, prefix, i))})
		}
		return req
	}
	for i := range 4 { // 2..5
		ts.must(t, "carol", "POST", protocol.PathBatch, ops(fmt.Sprintf("c%d-", i)), nil)
	}
	status, body, h = doRaw(t, ts, "carol", "POST", protocol.PathBatch, ops("c-over-"))
	rateLimited(t, status, body, h)
	var page protocol.MessagesResponse
	ts.must(t, "carol", "GET", "/channels/team:c/messages", nil, &page)
	if len(page.Messages) != 12 {
		t.Errorf("carol's channel holds %d messages, want the four batches' 12", len(page.Messages))
	}
}

// TestRateLimit_Syncs: sync requests have their own limit, counted before
// the body is read.
func TestRateLimit_Syncs(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.SyncsPerMinute = 1 }) // burst 1, no refill within the test
	createChannel(t, ts, "alice", "a")
	if status, body, _ := doRaw(t, ts, "alice", "POST", protocol.PathSync, struct{}{}); status == http.StatusTooManyRequests {
		t.Fatalf("first sync: %d %s", status, body)
	}
	status, body, h := doRaw(t, ts, "alice", "POST", protocol.PathSync, struct{}{})
	rateLimited(t, status, body, h)
	if status, body, _ := doRaw(t, ts, "bob", "POST", protocol.PathSync, struct{}{}); status == http.StatusTooManyRequests {
		t.Errorf("bob's first sync: %d %s", status, body) // bob's own limit
	}
	// Writes are not counted against syncs.
	sendMsg(t, ts, "alice", "team:a", "m1", "x")
}

// TestRateLimit_Connections: a user may hold MaxConnsPerUser WebSockets;
// one more is a 429 JSON answer, and closing one makes room.
func TestRateLimit_Connections(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxConnsPerUser = 2 })
	first := ts.dial(t, "alice")
	ts.dial(t, "alice")
	ts.dial(t, "bob") // bob's own count
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + protocol.PathConnect
	dial := func() (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tokenFor(t, "alice")}}})
	}
	_, resp, err := dial()
	if err == nil || resp == nil {
		t.Fatalf("third connection: %v, want a refusal", err)
	}
	data, _ := io.ReadAll(resp.Body)
	rateLimited(t, resp.StatusCode, string(data), resp.Header)

	first.close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := dial()
		if err == nil {
			c.Close(websocket.StatusNormalClosure, "")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after closing a connection: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline: the server's close runs on its own
	}
}

// TestRateLimit_WebSocketFrames: one connection that floods the server
// with frames is closed with 1008; the user's other connection stays.
func TestRateLimit_WebSocketFrames(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.WSMessagesPerSecond = 1 })
	calm := ts.dial(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + protocol.PathConnect + "?token=" + tokenFor(t, "alice")
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for range 20 {
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"health.check"}`)); err != nil {
			break
		}
	}
	var closeErr websocket.CloseError
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if !errors.As(err, &closeErr) || closeErr.Code != websocket.StatusPolicyViolation {
			t.Fatalf("flooding connection ended with %v, want close 1008", err)
		}
		break
	}
	createChannel(t, ts, "alice", "still")
	if ev := calm.next(t); ev.CID != "team:still" {
		t.Errorf("the calm connection got %s %s", ev.Type, ev.CID)
	}
}
