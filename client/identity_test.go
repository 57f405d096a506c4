package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

func helloFrame(serverID string) func(ctx context.Context, sc *serverConn) {
	return func(ctx context.Context, sc *serverConn) {
		sc.send(protocol.Event{Type: protocol.EventHealthCheck, ConnectionID: sc.id,
			Hello: &protocol.Hello{ServerID: serverID, RetentionMS: 1000}})
	}
}

// TestServerID_HelloOfAnotherServer: a client bound to one server meets
// another's hello in the first frame: Connect fails for good with a
// *ServerMismatchError, before any event is delivered, and the handshake
// carried the bound id.
func TestServerID_HelloOfAnotherServer(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.onConnect = helloFrame("other") })
	c := newClient(t, fs.URL())
	c.SetServerID("mine")
	rec := record(c)
	err := c.Connect(testCtx(t))
	var sm *client.ServerMismatchError
	if !errors.As(err, &sm) || sm.Bound != "mine" || sm.Got != "other" || !client.IsPermanent(err) {
		t.Fatalf("Connect = %v, want a permanent *ServerMismatchError (mine, other)", err)
	}
	if n := rec.count(protocol.EventHealthCheck); n != 0 {
		t.Errorf("%d health.check events delivered", n)
	}
	if c.Hello() != nil {
		t.Errorf("Hello() = %+v, want nil", c.Hello())
	}
	fs.mu.Lock()
	got := fs.dialHdr.Get(protocol.HeaderServerID)
	fs.mu.Unlock()
	if got != "mine" {
		t.Errorf("the handshake's %s = %q, want mine", protocol.HeaderServerID, got)
	}
}

// TestServerID_OwnServer: the bound server's hello is kept (Hello); a
// client not bound yet takes any server's hello and sends no id.
func TestServerID_OwnServer(t *testing.T) {
	for _, bound := range []string{"mine", ""} {
		fs := newFakeServer(t)
		fs.set(func(fs *fakeServer) { fs.onConnect = helloFrame("mine") })
		c := newClient(t, fs.URL())
		c.SetServerID(bound)
		mustConnect(t, c)
		if h := c.Hello(); h == nil || h.ServerID != "mine" {
			t.Errorf("bound %q: Hello() = %+v", bound, h)
		}
		fs.mu.Lock()
		_, sent := fs.dialHdr[http.CanonicalHeaderKey(protocol.HeaderServerID)]
		fs.mu.Unlock()
		if sent != (bound != "") {
			t.Errorf("bound %q: header sent = %v", bound, sent)
		}
	}
}

// TestServerID_RequestRefused: every REST call carries the bound id, and a
// refusal with code 63 is a permanent *ServerMismatchError wrapping the
// server's *protocol.APIError.
func TestServerID_RequestRefused(t *testing.T) {
	fs := newFakeServer(t)
	var mu sync.Mutex
	var sent []string
	refuse := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get(protocol.HeaderServerID))
		mu.Unlock()
		writeAPIError(w, protocol.NewAPIError(protocol.CodeServerMismatch, "not this server"))
	}
	fs.handle("POST "+protocol.PathSync, refuse)
	fs.handle("POST "+protocol.PathBatch, refuse)
	c := newClient(t, fs.URL())
	c.SetServerID("mine")
	ctx := testCtx(t)
	_, serr := c.Sync(ctx, protocol.SyncRequest{})
	_, berr := c.Batch(ctx, protocol.BatchRequest{Ops: []protocol.BatchOp{
		{Type: protocol.OpSendMessage, CID: "team:a", Body: json.RawMessage(`{"message":{"id":"m1","text":"hi"}}`)}}})
	for _, err := range []error{serr, berr} {
		var sm *client.ServerMismatchError
		ae, ok := protocol.AsAPIError(err)
		if !errors.As(err, &sm) || sm.Bound != "mine" || !ok || ae.Code != protocol.CodeServerMismatch || !client.IsPermanent(err) || client.IsTemporary(err) {
			t.Errorf("err = %v, want a permanent *ServerMismatchError over code 63", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range sent {
		if h != "mine" {
			t.Errorf("a request carried %s %q, want mine", protocol.HeaderServerID, h)
		}
	}
}
