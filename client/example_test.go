package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

// Example connects, listens for connection changes and new messages, sends
// a message and sees it come back over the WebSocket.
func Example() {
	srv := startDemoServer() // an in-process server speaking the protocol
	defer srv.Close()

	c, err := client.New(client.Config{
		ServerURL: srv.URL,
		UserID:    "alice",
		Token:     "demo-token",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	c.On(client.EventConnectionChanged, func(ev client.Event) {
		fmt.Println("online:", ev.Online)
	})
	messages := make(chan client.Event, 1)
	unsubscribe := c.On(protocol.EventMessageNew, func(ev client.Event) {
		messages <- ev
	})
	defer unsubscribe()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		fmt.Println("connect:", err)
		return
	}

	_, err = c.SendMessage(ctx, "messaging:general", protocol.SendMessageRequest{
		Message: protocol.MessageInput{ID: "msg-1", Text: "hello"},
	})
	if err != nil {
		fmt.Println("send:", err)
		return
	}
	select {
	case ev := <-messages:
		fmt.Println(ev.Type, ev.Message.ID, ev.Message.Text)
	case <-ctx.Done():
		fmt.Println("no message.new:", ctx.Err())
	}

	c.Close(context.Background())
	// Output:
	// online: true
	// message.new msg-1 hello
	// online: false
}

// demoServer is a tiny stand-in for the sync server: it accepts the
// WebSocket, sends the first health.check, and fans out a message.new for
// every message sent to it.
type demoServer struct {
	*httptest.Server
	mu    sync.Mutex
	conns map[*websocket.Conn]bool
}

func startDemoServer() *demoServer {
	d := &demoServer{conns: map[*websocket.Conn]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+protocol.PathConnect, d.connect)
	mux.HandleFunc("POST "+protocol.PathMessages, d.send)
	d.Server = httptest.NewServer(mux)
	return d
}

func (d *demoServer) connect(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(protocol.HeaderAuthorization) != "Bearer demo-token" {
		writeAPIError(w, protocol.NewAPIError(protocol.CodeAuth, "bad token"))
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	// Registered before the hello: once the client has it, a message
	// sent reaches this connection.
	d.mu.Lock()
	d.conns[conn] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.conns, conn)
		d.mu.Unlock()
	}()
	hello, _ := json.Marshal(protocol.Event{Type: protocol.EventHealthCheck, ConnectionID: "demo-1"})
	d.mu.Lock()
	err = conn.Write(r.Context(), websocket.MessageText, hello)
	d.mu.Unlock()
	if err != nil {
		return
	}
	for { // read the client's health checks until it goes
		if _, _, err := conn.Read(r.Context()); err != nil {
			return
		}
	}
}

func (d *demoServer) send(w http.ResponseWriter, r *http.Request) {
	var req protocol.SendMessageRequest
	if err := protocol.DecodeStrictReader(r.Body, &req, "send message request"); err != nil {
		writeAPIError(w, protocol.NewAPIError(protocol.CodeInput, "%v", err))
		return
	}
	now := time.Now().UTC()
	msg := protocol.Message{ID: req.Message.ID, CID: r.PathValue("cid"), UserID: "alice",
		Text: req.Message.Text, CreatedAt: now, UpdatedAt: now, Version: 1}
	ev, _ := json.Marshal(protocol.Event{ID: "ev-" + msg.ID, Type: protocol.EventMessageNew,
		CID: msg.CID, Seq: 1, CreatedAt: now, Message: &msg})
	d.mu.Lock()
	for conn := range d.conns {
		conn.Write(r.Context(), websocket.MessageText, ev)
	}
	d.mu.Unlock()
	writeJSON(w, protocol.MessageResponse{Message: msg})
}
