package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

func TestNew_Config(t *testing.T) {
	tests := []struct {
		name  string
		cfg   client.Config
		field string
	}{
		{"NoURL", client.Config{UserID: "u", Token: "t"}, "ServerURL"},
		{"BadScheme", client.Config{ServerURL: "ftp://x", UserID: "u", Token: "t"}, "ServerURL"},
		{"NoHost", client.Config{ServerURL: "http://", UserID: "u", Token: "t"}, "ServerURL"},
		{"NoUser", client.Config{ServerURL: "http://x", Token: "t"}, "UserID"},
		{"BadUser", client.Config{ServerURL: "http://x", UserID: "a b", Token: "t"}, "UserID"},
		{"NoToken", client.Config{ServerURL: "http://x", UserID: "u"}, "Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(tt.cfg)
			var ce *client.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("New = %v, want a *ConfigError on %s", err, tt.field)
			}
		})
	}
	c, err := client.New(client.Config{ServerURL: "ws://127.0.0.1:1/base/", UserID: "u", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.State(), client.StateDisconnected; got != want {
		t.Errorf("State = %v, want %v", got, want)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestClient_ConnectGoesOnlineOnce(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	rec := record(c)
	mustConnect(t, c)
	if got, want := c.State(), client.StateConnected; got != want {
		t.Fatalf("State = %v, want %v", got, want)
	}
	if !c.IsHealthy() {
		t.Error("IsHealthy = false right after Connect")
	}
	if got, want := c.ConnectionID(), "conn-1"; got != want {
		t.Errorf("ConnectionID = %q, want %q", got, want)
	}
	rec.waitSeq(t, waitLimit, "on")
	// A second Connect while connected just returns.
	mustConnect(t, c)
	// The client keeps sending health checks.
	sc := fs.nextConn(t)
	poll(t, "three health checks from the client", waitLimit, func() bool { return sc.pings.Load() >= 3 })
	if got := rec.connectionEvents(); !slices.Equal(got, []string{"on"}) {
		t.Fatalf("connection events = %v, want [on]", got)
	}
	// The first event after going online is the server's health.check.
	rec.mu.Lock()
	first := rec.events[1]
	rec.mu.Unlock()
	if first.Type != protocol.EventHealthCheck || first.ConnectionID != "conn-1" {
		t.Errorf("second event = %+v, want the first health.check", first)
	}
}

func TestClient_DisconnectThenConnectAgain(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	rec := record(c)
	mustConnect(t, c)
	c.Disconnect()
	if got, want := c.State(), client.StateDisconnected; got != want {
		t.Fatalf("State after Disconnect = %v, want %v", got, want)
	}
	if c.IsHealthy() {
		t.Error("IsHealthy after Disconnect")
	}
	rec.waitSeq(t, waitLimit, "on", "off")
	c.Disconnect() // no-op
	mustConnect(t, c)
	rec.waitSeq(t, waitLimit, "on", "off", "on", "recovered")
	if got := fs.accepted.Load(); got != 2 {
		t.Errorf("server accepted %d connections, want 2", got)
	}
}

func TestClient_CloseIsFinalAndIdempotent(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	rec := record(c)
	mustConnect(t, c)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Close ran the handlers of everything queued: the offline event is in.
	if got, want := rec.connectionEvents(), []string{"on", "off"}; !slices.Equal(got, want) {
		t.Fatalf("connection events after Close = %v, want %v", got, want)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if got, want := c.State(), client.StateClosed; got != want {
		t.Errorf("State = %v, want %v", got, want)
	}
	if err := c.Connect(testCtx(t)); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Connect after Close = %v, want ErrClosed", err)
	}
	if _, err := c.GetChannel(testCtx(t), "messaging:general"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("GetChannel after Close = %v, want ErrClosed", err)
	}
	c.Disconnect() // harmless
}

func TestClient_CloseWithoutConnect(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1")
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestClient_HandlersInOrderPanicsRecovered(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	const n = 50
	done := make(chan struct{})
	var got []string
	c.On(protocol.EventMessageNew, func(ev client.Event) { panic("bad handler") })
	c.On(protocol.EventMessageNew, func(ev client.Event) {
		got = append(got, ev.ID)
		if len(got) == n {
			close(done)
		}
	})
	var typing int
	unsub := c.On(protocol.EventTypingStart, func(ev client.Event) { typing++ })
	unsub()
	unsub() // idempotent
	mustConnect(t, c)
	sc := fs.nextConn(t)
	for i := 1; i <= n; i++ {
		if err := sc.send(protocol.Event{Type: protocol.EventTypingStart, CID: "messaging:general"}); err != nil {
			t.Fatal(err)
		}
		if err := sc.send(messageEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("got %d events, want %d", len(got), n)
	}
	for i, id := range got {
		if want := fmt.Sprintf("ev-%d", i+1); id != want {
			t.Fatalf("event %d = %s, want %s (order lost)", i, id, want)
		}
	}
	if typing != 0 {
		t.Errorf("unsubscribed handler ran %d times", typing)
	}
	if got := c.State(); got != client.StateConnected {
		t.Errorf("State = %v after a panicking handler, want connected", got)
	}
}

func TestClient_SlowHandlerDoesNotStallHealthChecks(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	rec := record(c)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before Close, which waits for the handler
	entered := make(chan struct{})
	c.On(protocol.EventMessageNew, func(ev client.Event) {
		if ev.ID == "ev-1" {
			close(entered)
			<-release
		}
	})
	mustConnect(t, c)
	sc := fs.nextConn(t)
	sc.send(messageEvent(1))
	recv(t, entered, "the slow handler to start")
	// While the handler is stuck, events keep coming and the client keeps
	// its health checks going: several health timeouts pass without a drop.
	start := sc.pings.Load()
	for i := 2; i <= 100; i++ {
		sc.send(messageEvent(i))
	}
	poll(t, "health checks while a handler blocks", waitLimit, func() bool {
		if got := fs.accepted.Load(); got != 1 {
			t.Fatalf("the client reconnected (%d connections) while a handler blocked", got)
		}
		return sc.pings.Load() >= start+int64(2*testTimeout/testInterval)
	})
	if got := c.State(); got != client.StateConnected {
		t.Fatalf("State = %v while a handler blocks, want connected", got)
	}
	unblock()
	rec.waitFor(t, "all 100 events", waitLimit, func() bool { return rec.count(protocol.EventMessageNew) == 100 })
	if got := rec.connectionEvents(); !slices.Equal(got, []string{"on"}) {
		t.Errorf("connection events = %v, want [on]", got)
	}
}

func TestClient_OnFiltersByType(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	rec := record(c)
	typed := make(chan protocol.Event, 10)
	c.On(protocol.EventReactionNew, func(ev client.Event) { typed <- ev.Event })
	mustConnect(t, c)
	sc := fs.nextConn(t)
	sc.send(messageEvent(1))
	react := messageEvent(2)
	react.Type = protocol.EventReactionNew
	sc.send(react)
	ev := recv(t, typed, "the reaction.new event")
	if ev.ID != "ev-2" {
		t.Fatalf("On(reaction.new) got %s", ev.ID)
	}
	rec.waitFor(t, "both events on OnAll", waitLimit, func() bool {
		return rec.count(protocol.EventMessageNew) == 1 && rec.count(protocol.EventReactionNew) == 1
	})
	select {
	case ev := <-typed:
		t.Fatalf("On(reaction.new) also got %s", ev.Type)
	default:
	}
}

func TestClient_HandlerMayDisconnectAndUnsubscribe(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	rec := record(c)
	calls := 0
	var unsub func()
	unsub = c.On(client.EventConnectionChanged, func(ev client.Event) {
		calls++
		unsub()
		if ev.Online {
			c.Disconnect() // from the dispatcher goroutine: must not deadlock
		}
	})
	mustConnect(t, c)
	rec.waitSeq(t, waitLimit, "on", "off")
	poll(t, "disconnected", waitLimit, func() bool { return c.State() == client.StateDisconnected })
	if calls != 1 {
		t.Errorf("handler ran %d times after unsubscribing itself, want 1", calls)
	}
}
