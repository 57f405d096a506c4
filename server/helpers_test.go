package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

var secret = []byte("test-secret")

type testServer struct {
	*httptest.Server
	srv   *server.Server
	store server.Store
	clock *apitest.Clock
}

func startServer(tb testing.TB, tune func(*server.Config)) *testServer {
	tb.Helper()
	clk := &apitest.Clock{}
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), clk.Now)
	if err != nil {
		tb.Fatal(err)
	}
	return startServerOn(tb, st, clk, tune)
}

// startServerOn starts a server on st, whose clock is clk, and closes
// both when tb ends.
func startServerOn(tb testing.TB, st server.Store, clk *apitest.Clock, tune func(*server.Config)) *testServer {
	tb.Helper()
	// Tests make requests as fast as they can: no rate limits unless
	// the test sets them.
	cfg := server.Config{Store: st, Secret: secret, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
		WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	tb.Cleanup(func() {
		srv.Close()
		ts.Close()
		st.Close()
	})
	return &testServer{Server: ts, srv: srv, store: st, clock: clk}
}

func tokenFor(tb testing.TB, user string) string {
	tb.Helper()
	// Issued three hours back for six: tests that move the server's
	// clock by an hour or two either way still get it accepted.
	tok, err := token.IssueAt(secret, user, 6*time.Hour, time.Now().Add(-3*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// call makes a request as user (no token when user is "") and decodes a
// 2xx body into out, or returns the API error.
func (ts *testServer) call(tb testing.TB, user, method, path string, body any, out any, headers ...string) *protocol.APIError {
	tb.Helper()
	tok := ""
	if user != "" {
		tok = tokenFor(tb, user)
	}
	_, ae := apitest.Call(tb, method, ts.URL+path, tok, body, out, headers...)
	return ae
}

func (ts *testServer) must(tb testing.TB, user, method, path string, body any, out any, headers ...string) {
	tb.Helper()
	if ae := ts.call(tb, user, method, path, body, out, headers...); ae != nil {
		tb.Fatalf("%s %s as %s: %v", method, path, user, ae)
	}
}

// wsClient is a raw WebSocket to the server.
type wsClient struct {
	first  protocol.Event // the connection's first frame
	conn   *websocket.Conn
	events chan protocol.Event
	done   chan struct{}
}

func (ts *testServer) dial(tb testing.TB, user string) *wsClient {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + protocol.PathConnect + "?token=" + tokenFor(tb, user)
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	c := &wsClient{conn: conn, events: make(chan protocol.Event, 1000), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.events)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var ev protocol.Event
			if json.Unmarshal(data, &ev) == nil {
				c.events <- ev
			}
		}
	}()
	var first protocol.Event
	select {
	case first = <-c.events:
	case <-time.After(5 * time.Second):
		tb.Fatal("no first frame in 5s")
	}
	if first.Type != protocol.EventHealthCheck || first.ConnectionID == "" {
		tb.Fatalf("first frame = %+v, want health.check with a connection id", first)
	}
	c.first = first
	tb.Cleanup(func() { c.close() })
	return c
}

func (c *wsClient) close() {
	c.conn.Close(websocket.StatusNormalClosure, "")
	<-c.done
}

// next returns the next event that is not a health check.
func (c *wsClient) next(tb testing.TB) protocol.Event {
	tb.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				tb.Fatal("websocket closed")
			}
			if ev.Type == protocol.EventHealthCheck {
				continue
			}
			return ev
		case <-timeout:
			tb.Fatal("no event within 5s")
		}
	}
}

// nextAny returns the next event that is not a health check, or nil if
// none comes within a short wait.
func (c *wsClient) nextAny(tb testing.TB) *protocol.Event {
	tb.Helper()
	timeout := time.After(200 * time.Millisecond)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return nil
			}
			if ev.Type == protocol.EventHealthCheck {
				continue
			}
			return &ev
		case <-timeout:
			return nil
		}
	}
}

// none checks that nothing but health checks arrive within a short wait.
func (c *wsClient) none(tb testing.TB, wait time.Duration) {
	tb.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev, ok := <-c.events:
			if ok && ev.Type != protocol.EventHealthCheck {
				tb.Fatalf("unexpected event %s %+v", ev.Type, ev)
			}
			if !ok {
				return
			}
		case <-timeout:
			return
		}
	}
}

func createChannel(tb testing.TB, ts *testServer, owner, id string, members ...string) protocol.ChannelResponse {
	tb.Helper()
	var resp protocol.ChannelResponse
	ts.must(tb, owner, "POST", protocol.PathChannels, protocol.CreateChannelRequest{Type: "team", ID: id, Members: members}, &resp)
	return resp
}

func sendMsg(tb testing.TB, ts *testServer, user, cid, id, text string) protocol.Message {
	tb.Helper()
	var resp protocol.MessageResponse
	ts.must(tb, user, "POST", "/channels/"+cid+"/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: text}}, &resp)
	return resp.Message
}

// syncResult is what a client following the protocol gathers over the
// pages of one sync.
type syncResult struct {
	events       []protocol.Event // channel events, in page order
	feed         []protocol.Event // feed events
	feedReset    bool
	feedChannels []string // the channels of the last feed reset
	feedPos      protocol.Position
	positions    map[string]protocol.Position // where each channel stands after
	resets       map[string]string            // cid -> reason
	inaccessible []string
	pages        int
	syncedAt     time.Time
	hellos       []*protocol.Hello // each page's
}

// syncFrom syncs as a client would: from the feed position and the
// channel positions, page after page while more, moving each position on
// with its page, until done.
func syncFrom(tb testing.TB, ts *testServer, user string, feed *protocol.Position, from map[string]protocol.Position, limit int) syncResult {
	tb.Helper()
	res := syncResult{positions: map[string]protocol.Position{}, resets: map[string]string{}}
	for cid, p := range from {
		res.positions[cid] = p
	}
	for {
		req := protocol.SyncRequest{Version: protocol.Version, Feed: feed, Limit: limit, Channels: []protocol.ChannelPosition{}}
		for cid, p := range res.positions {
			req.Channels = append(req.Channels, protocol.ChannelPosition{CID: cid, Position: p})
		}
		var resp protocol.SyncResponse
		ts.must(tb, user, "POST", protocol.PathSync, req, &resp)
		res.pages++
		res.hellos = append(res.hellos, resp.Hello)
		res.events = append(res.events, resp.Events...)
		if resp.Feed.Reset {
			res.feedReset = true
			res.feedChannels = resp.Feed.Channels
		}
		res.feed = append(res.feed, resp.Feed.Events...)
		fp := resp.Feed.Position
		feed, res.feedPos = &fp, fp
		for _, cs := range resp.Channels {
			switch cs.Status {
			case protocol.ChannelOK:
				res.positions[cs.CID] = *cs.Position
			case protocol.ChannelReset:
				res.resets[cs.CID] = cs.Reason
				delete(res.positions, cs.CID)
			case protocol.ChannelInaccessible:
				res.inaccessible = append(res.inaccessible, cs.CID)
				delete(res.positions, cs.CID)
			default:
				tb.Fatalf("channel %s: status %q", cs.CID, cs.Status)
			}
		}
		res.syncedAt = resp.SyncedAt
		if !resp.More {
			return res
		}
		if res.pages > 100000 {
			tb.Fatal("sync does not end")
		}
	}
}

// epochOf returns cid's epoch as a member sees it (a bogus one for a
// channel the user cannot read).
func epochOf(tb testing.TB, ts *testServer, user, cid string) string {
	tb.Helper()
	var resp protocol.ChannelResponse
	if ae := ts.call(tb, user, "GET", "/channels/"+cid, nil, &resp); ae != nil || resp.Position == nil {
		return "unknown"
	}
	return resp.Position.Epoch
}

// syncAll returns the whole retained history of cids as user syncs it
// from seq 0, in pages of limit (0: the server's default), and the
// channels it may not read.
func syncAll(tb testing.TB, ts *testServer, user string, cids []string, limit int) ([]protocol.Event, []string) {
	tb.Helper()
	from := map[string]protocol.Position{}
	for _, cid := range cids {
		from[cid] = protocol.Position{Epoch: epochOf(tb, ts, user, cid)}
	}
	res := syncFrom(tb, ts, user, nil, from, limit)
	return res.events, res.inaccessible
}
