package webtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

var secret = []byte("webtest-secret")

type testServer struct {
	*httptest.Server
	srv   *server.Server
	store *sqlitestore.Store
	clock *apitest.Clock
	logs  *logtest.Buffer
}

func startServer(tb testing.TB, tune func(*server.Config)) *testServer {
	tb.Helper()
	clk := &apitest.Clock{}
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), clk.Now)
	if err != nil {
		tb.Fatal(err)
	}
	logs := &logtest.Buffer{}
	cfg := server.Config{Store: st, Secret: secret, Now: clk.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		srv.Close()
		ts.Close()
		st.Close()
	})
	return &testServer{Server: ts, srv: srv, store: st, clock: clk, logs: logs}
}

func tokenFor(tb testing.TB, user string) string {
	tb.Helper()
	tok, err := token.Issue(secret, user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// do makes a request with the given headers (pairs) and returns the
// answer and its body. A 5xx fails the test.
func (ts *testServer) do(tb testing.TB, method, path string, body any, headers ...string) (*http.Response, []byte) {
	tb.Helper()
	resp, data := apitest.Do(tb, method, ts.URL+path, "", body, headers...)
	if resp.StatusCode >= 500 {
		tb.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, data)
	}
	return resp, data
}

// must makes a request as user and decodes a 2xx answer into out.
func (ts *testServer) must(tb testing.TB, user, method, path string, body, out any) {
	tb.Helper()
	if _, ae := apitest.Call(tb, method, ts.URL+path, tokenFor(tb, user), body, out); ae != nil {
		tb.Fatalf("%s %s as %s: %v", method, path, user, ae)
	}
}

func createChannel(tb testing.TB, ts *testServer, owner, id string, members ...string) string {
	tb.Helper()
	ts.must(tb, owner, "POST", protocol.PathChannels,
		protocol.CreateChannelRequest{Type: "messaging", ID: id, Members: append([]string{owner}, members...)}, nil)
	return "messaging:" + id
}

func sendMsg(tb testing.TB, ts *testServer, user, cid, id, text string) protocol.Message {
	tb.Helper()
	var resp protocol.MessageResponse
	ts.must(tb, user, "POST", "/channels/"+cid+"/messages",
		protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: text}}, &resp)
	return resp.Message
}

// sseEvent is one event read off a stream.
type sseEvent struct {
	ID, Type, Data string
	HasID          bool
}

// sseClient reads one GET /events stream.
type sseClient struct {
	ctx    context.Context
	resp   *http.Response
	cancel context.CancelFunc
	events chan sseEvent
	done   chan struct{}
	retry  string
	lastID string // the id of the last event read, as EventSource keeps it
}

// openStream opens GET /events?query with the given headers (pairs) and
// fails unless it answers 200.
func openStream(tb testing.TB, ts *testServer, query string, headers ...string) *sseClient {
	tb.Helper()
	c, resp, body := tryStream(tb, ts, query, headers...)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /events?%s: %d %s", query, resp.StatusCode, body)
	}
	return c
}

// tryStream opens GET /events; for a non-200 answer it returns the body.
func tryStream(tb testing.TB, ts *testServer, query string, headers ...string) (*sseClient, *http.Response, []byte) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+protocol.PathEvents+"?"+query, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			tb.Fatalf("GET /events?%s: %d %s", query, resp.StatusCode, body)
		}
		return nil, resp, body
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		tb.Fatalf("Content-Type %q", ct)
	}
	c := &sseClient{ctx: ctx, resp: resp, cancel: cancel, events: make(chan sseEvent, 1024), done: make(chan struct{})}
	go c.read()
	tb.Cleanup(c.Close)
	return c, resp, nil
}

func (c *sseClient) read() {
	defer close(c.done)
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data != nil {
				ev.Data = strings.Join(data, "\n")
				if !c.emit(ev) {
					return
				}
			}
			ev, data = sseEvent{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			if !c.emit(sseEvent{Type: "comment", Data: value}) {
				return
			}
		case "id":
			ev.ID, ev.HasID = value, true
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
		case "retry":
			c.retry = value
		}
	}
}

// emit hands ev to the test; false once the client is closed.
func (c *sseClient) emit(ev sseEvent) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// Close drops the connection and waits for the reader.
func (c *sseClient) Close() {
	c.cancel()
	if c.resp != nil {
		c.resp.Body.Close()
	}
	<-c.done
	// Cleanup keeps c until the test ends: let its buffers go now, so a
	// test that opens many streams measures the server, not itself.
	c.events, c.resp = nil, nil
}

// next returns the next event that is not a comment, failing after 10s.
func (c *sseClient) next(tb testing.TB) sseEvent {
	tb.Helper()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				tb.Fatal("stream ended")
			}
			if ev.Type == "comment" {
				continue
			}
			if ev.HasID {
				c.lastID = ev.ID
			}
			return ev
		case <-time.After(10 * time.Second):
			tb.Fatal("no event within 10s")
		}
	}
}

// nextMessage returns the next data event decoded, failing on a control
// event.
func (c *sseClient) nextMessage(tb testing.TB) protocol.Event {
	tb.Helper()
	ev := c.next(tb)
	if ev.Type != "" {
		tb.Fatalf("got a %q event (%s), want a message", ev.Type, ev.Data)
	}
	var pe protocol.Event
	if err := json.Unmarshal([]byte(ev.Data), &pe); err != nil {
		tb.Fatal(err)
	}
	return pe
}

// control is the data of a control event.
type control struct {
	CID      string             `json:"cid"`
	Reason   string             `json:"reason"`
	Position *protocol.Position `json:"position"`
}

func (c *sseClient) nextControl(tb testing.TB, typ string) control {
	tb.Helper()
	ev := c.next(tb)
	if ev.Type != typ {
		tb.Fatalf("got event %q (%s), want %q", ev.Type, ev.Data, typ)
	}
	var ctl control
	if err := json.Unmarshal([]byte(ev.Data), &ctl); err != nil {
		tb.Fatal(err)
	}
	return ctl
}

// waitFor polls cond until it holds, failing after d.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func auth(tb testing.TB, user string) []string {
	return []string{"Authorization", "Bearer " + tokenFor(tb, user)}
}

func msgText(i int) string { return fmt.Sprintf("m%03d", i) }
