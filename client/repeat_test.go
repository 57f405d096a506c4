package client_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

// connDropper serves each connection's first request with h and drops the
// connection at its second, unanswered, as a server that went away while
// the client kept the connection alive.
type connDropper struct {
	h     http.Handler
	mu    sync.Mutex
	seen  map[net.Conn]bool
	drops int
}

type connKey struct{}

func (d *connDropper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(connKey{}).(net.Conn)
	d.mu.Lock()
	again := d.seen[c]
	d.seen[c] = true
	if again {
		d.drops++
	}
	d.mu.Unlock()
	if !again {
		d.h.ServeHTTP(w, r)
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestREST_RepeatableWritesSurviveAClosedConnection: a write the server
// answers again on a repeat (a send, by its message id; a batch whose ops
// are all keyed or sends) is sent again on a new connection when the kept
// one turns out closed; a write that is not repeatable fails, as it may
// have been applied.
func TestREST_RepeatableWritesSurviveAClosedConnection(t *testing.T) {
	rs := startRealServer(t)
	d := &connDropper{h: rs.srv, seen: map[net.Conn]bool{}}
	ts := httptest.NewUnstartedServer(d)
	ts.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }
	ts.Start()
	t.Cleanup(ts.Close)
	ctx := testCtx(t)
	alice := realClient(t, ts.URL, "alice", func(cfg *client.Config) {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	})

	// Each call first takes the connection the call before left idle.
	ok(alice.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "general"})).must(t)
	ok(alice.SendMessage(ctx, "team:general", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "m1", Text: "hi"}})).must(t)
	react := func(key, typ string) protocol.BatchOp {
		body, _ := json.Marshal(protocol.SendReactionRequest{Type: typ})
		return protocol.BatchOp{Type: protocol.OpSendReaction, Key: key, MessageID: "m1", Body: body}
	}
	key := react("react-1", "like")
	ok(alice.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{key}})).must(t)
	unkeyed := react("", "love")
	if _, err := alice.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{unkeyed}}); err == nil {
		t.Error("an unkeyed batch was sent again after its connection closed")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drops < 3 {
		t.Fatalf("%d kept connections dropped, want 3: the test did not exercise the repeat", d.drops)
	}
}
