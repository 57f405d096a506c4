package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/protocol"
)

// fakeServer speaks the server side of the protocol, with knobs for the
// faults and bad input a test wants. It runs on a faultproxy.Server, so it
// can be restarted on the same address.
type fakeServer struct {
	tb  testing.TB
	srv *faultproxy.Server

	dials    atomic.Int64 // GET /connect requests, accepted or not
	accepted atomic.Int64 // upgraded connections

	mu         sync.Mutex      // guards the fields below
	tokens     map[string]bool // valid tokens
	expired    map[string]bool // tokens answered with code 40
	forbidden  bool            // answer /connect with 403
	connectErr func(w http.ResponseWriter) bool
	// onConnect replaces the default first frame (a health.check with a
	// connection id) when set; it may write anything.
	onConnect func(ctx context.Context, sc *serverConn)
	echo      bool        // answer each client health.check with one
	dialHdr   http.Header // the headers of the last GET /connect
	rest      map[string]http.HandlerFunc
	conns     []*serverConn
	newConn   chan *serverConn
	wg        sync.WaitGroup
}

// serverConn is the server's side of one WebSocket.
type serverConn struct {
	id     string
	conn   *websocket.Conn
	pings  atomic.Int64  // health.check frames from the client
	closed chan struct{} // closed when the server's reading ends
}

func newFakeServer(tb testing.TB) *fakeServer {
	tb.Helper()
	fs := &fakeServer{
		tb:      tb,
		tokens:  map[string]bool{"good": true},
		expired: map[string]bool{},
		echo:    true,
		rest:    map[string]http.HandlerFunc{},
		newConn: make(chan *serverConn, 64),
	}
	srv, err := faultproxy.NewServer(fs)
	if err != nil {
		tb.Fatal(err)
	}
	fs.srv = srv
	tb.Cleanup(func() {
		srv.Close()
		fs.wg.Wait()
	})
	return fs
}

func (fs *fakeServer) URL() string  { return fs.srv.URL() }
func (fs *fakeServer) Addr() string { return fs.srv.Addr() }

// handle sets the handler of a REST route, "METHOD /path".
func (fs *fakeServer) handle(route string, h http.HandlerFunc) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rest[route] = h
}

func (fs *fakeServer) set(f func(fs *fakeServer)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f(fs)
}

func writeAPIError(w http.ResponseWriter, e *protocol.APIError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.StatusCode)
	json.NewEncoder(w).Encode(e)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// authError checks a request's token as the real server does.
func (fs *fakeServer) authError(r *http.Request) *protocol.APIError {
	tok := strings.TrimPrefix(r.Header.Get(protocol.HeaderAuthorization), "Bearer ")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch {
	case fs.expired[tok]:
		return protocol.NewAPIError(protocol.CodeTokenExpired, "token expired")
	case !fs.tokens[tok]:
		return protocol.NewAPIError(protocol.CodeAuth, "bad token")
	}
	return nil
}

func (fs *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == protocol.PathConnect {
		fs.serveConnect(w, r)
		return
	}
	if e := fs.authError(r); e != nil {
		writeAPIError(w, e)
		return
	}
	fs.mu.Lock()
	h := fs.rest[r.Method+" "+r.URL.Path]
	fs.mu.Unlock()
	if h == nil {
		writeAPIError(w, protocol.NewAPIError(protocol.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
		return
	}
	h(w, r)
}

func (fs *fakeServer) serveConnect(w http.ResponseWriter, r *http.Request) {
	fs.dials.Add(1)
	fs.mu.Lock()
	fs.dialHdr = r.Header.Clone()
	fs.mu.Unlock()
	if e := fs.authError(r); e != nil {
		writeAPIError(w, e)
		return
	}
	fs.mu.Lock()
	forbidden, connectErr, onConnect, echo := fs.forbidden, fs.connectErr, fs.onConnect, fs.echo
	fs.mu.Unlock()
	if forbidden {
		writeAPIError(w, protocol.NewAPIError(protocol.CodeNotAllowed, "forbidden"))
		return
	}
	if connectErr != nil && connectErr(w) {
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(1 << 20)
	n := fs.accepted.Add(1)
	sc := &serverConn{id: "conn-" + strconv.FormatInt(n, 10), conn: conn, closed: make(chan struct{})}
	fs.mu.Lock()
	fs.conns = append(fs.conns, sc)
	fs.wg.Add(1)
	fs.mu.Unlock()
	defer fs.wg.Done()
	fs.newConn <- sc

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if onConnect != nil {
		onConnect(ctx, sc)
	} else {
		sc.send(protocol.Event{Type: protocol.EventHealthCheck, ConnectionID: sc.id})
	}
	defer close(sc.closed)
	defer conn.CloseNow()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var ev protocol.Event
		if json.Unmarshal(data, &ev) == nil && ev.Type == protocol.EventHealthCheck {
			sc.pings.Add(1)
			if echo {
				sc.send(protocol.Event{Type: protocol.EventHealthCheck})
			}
		}
	}
}

// nextConn waits for the next upgraded connection.
func (fs *fakeServer) nextConn(tb testing.TB) *serverConn {
	tb.Helper()
	select {
	case sc := <-fs.newConn:
		return sc
	case <-time.After(10 * time.Second):
		tb.Fatal("no WebSocket connection reached the server")
		return nil
	}
}

func (sc *serverConn) send(ev protocol.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return sc.sendRaw(websocket.MessageText, data)
}

func (sc *serverConn) sendRaw(typ websocket.MessageType, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return sc.conn.Write(ctx, typ, data)
}

// message makes a valid message.new event.
func messageEvent(n int) protocol.Event {
	return protocol.Event{
		ID:        fmt.Sprintf("ev-%d", n),
		Type:      protocol.EventMessageNew,
		CID:       "messaging:general",
		Seq:       int64(n),
		CreatedAt: time.Date(2024, 1, 1, 0, 0, n, 0, time.UTC),
		Message:   &protocol.Message{ID: fmt.Sprintf("m-%d", n), CID: "messaging:general", Text: "hi"},
	}
}
