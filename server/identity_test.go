package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

func storeServerID(tb testing.TB, ts *testServer) string {
	tb.Helper()
	id, err := ts.store.ServerID(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// TestHello_FirstFrameAndEverySyncPage: the server's hello (its id,
// retention window and largest sync page) is in the first WebSocket frame
// and on every page of a sync.
func TestHello_FirstFrameAndEverySyncPage(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.Retention, c.SyncPageMax = 36*time.Hour, 700 })
	want := protocol.Hello{ServerID: storeServerID(t, ts), RetentionMS: (36 * time.Hour).Milliseconds(), SyncPageMax: 700}

	ws := ts.dial(t, "alice")
	if ws.first.Hello == nil || *ws.first.Hello != want {
		t.Errorf("first frame's hello = %+v, want %+v", ws.first.Hello, want)
	}

	createChannel(t, ts, "alice", "hello")
	for i := range 5 {
		sendMsg(t, ts, "alice", "team:hello", "m"+string(rune('a'+i)), "hi")
	}
	res := syncFrom(t, ts, "alice", nil, map[string]protocol.Position{"team:hello": {Epoch: epochOf(t, ts, "alice", "team:hello")}}, 1)
	if res.pages < 2 {
		t.Fatalf("%d pages, want several", res.pages)
	}
	for i, h := range res.hellos {
		if h == nil || *h != want {
			t.Errorf("page %d: hello = %+v, want %+v", i, h, want)
		}
	}
}

// TestServerID_MismatchRefusedBeforeAnything: a request naming another
// server id is refused with CodeServerMismatch (409) and changes nothing;
// the right id, or none, is served.
func TestServerID_MismatchRefusedBeforeAnything(t *testing.T) {
	ts := startServer(t, nil)
	id := storeServerID(t, ts)
	createChannel(t, ts, "alice", "id")
	before := epochOf(t, ts, "alice", "team:id")
	head := syncFrom(t, ts, "alice", nil, map[string]protocol.Position{"team:id": {}}, 0).positions["team:id"]

	send := protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "m1", Text: "to the wrong server"}}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/channels/team:id/messages", send},
		{"POST", protocol.PathSync, protocol.SyncRequest{Version: protocol.Version, Channels: []protocol.ChannelPosition{}}},
		{"POST", protocol.PathBatch, protocol.BatchRequest{}},
	} {
		ae := ts.call(t, "alice", tc.method, tc.path, tc.body, nil, protocol.HeaderServerID, "another-server")
		if ae == nil || ae.Code != protocol.CodeServerMismatch || ae.StatusCode != http.StatusConflict {
			t.Errorf("%s %s with another server id: %v, want code %d (409)", tc.method, tc.path, ae, protocol.CodeServerMismatch)
		}
	}
	res := syncFrom(t, ts, "alice", nil, map[string]protocol.Position{"team:id": {}}, 0)
	if got := res.positions["team:id"]; got != head || epochOf(t, ts, "alice", "team:id") != before {
		t.Errorf("the log moved: %+v, was %+v", got, head)
	}

	// The WebSocket is refused too, before the upgrade.
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + protocol.PathConnect + "?token=" + tokenFor(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{protocol.HeaderServerID: {"another-server"}}})
	if err == nil {
		conn.CloseNow()
		t.Error("WebSocket with another server id: accepted")
	} else if resp == nil || resp.StatusCode != http.StatusConflict {
		t.Errorf("WebSocket with another server id: %v, want 409", err)
	}

	// Its own id is served.
	ts.must(t, "alice", "POST", "/channels/team:id/messages", send, nil, protocol.HeaderServerID, id)
}
