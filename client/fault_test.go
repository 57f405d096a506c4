package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/protocol"
)

// proxied starts a fake server behind a fault proxy and a client connected
// through the proxy, and returns them with the client's recorder, after the
// client went online.
func proxied(tb testing.TB) (*fakeServer, *faultproxy.Proxy, *client.Client, *recorder) {
	tb.Helper()
	fs := newFakeServer(tb)
	p, err := faultproxy.New(fs.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	c := newClient(tb, p.URL())
	rec := record(c)
	mustConnect(tb, c)
	rec.waitSeq(tb, waitLimit, "on")
	return fs, p, c, rec
}

func lastError(tb testing.TB, rec *recorder) error {
	tb.Helper()
	errs := rec.errors()
	if len(errs) == 0 {
		tb.Fatal("no ErrorEvent")
	}
	last := errs[len(errs)-1]
	if last.Permanent {
		tb.Fatalf("error %v reported as permanent", last.Err)
	}
	return last.Err
}

func TestFault_Cut(t *testing.T) {
	_, p, c, rec := proxied(t)
	p.Cut()
	rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
	var te *client.TransportError
	if err := lastError(t, rec); !errors.As(err, &te) || te.Op != "read" {
		t.Errorf("error = %v, want a *TransportError from read", err)
	}
	if !c.IsHealthy() {
		t.Error("not healthy after the reconnect")
	}
}

func TestFault_Reset(t *testing.T) {
	_, p, _, rec := proxied(t)
	p.Reset()
	rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
	var te *client.TransportError
	if err := lastError(t, rec); !errors.As(err, &te) {
		t.Errorf("error = %v, want a *TransportError", err)
	}
}

func TestFault_StallDetectedByHealthTimeout(t *testing.T) {
	_, p, c, rec := proxied(t)
	stalled := time.Now()
	p.Stall()
	rec.waitSeq(t, reconnectBound, "on", "off")
	// Silence is noticed after the health timeout (counted from the last
	// frame, up to an interval before the stall), not much later.
	if d := time.Since(stalled); d < testTimeout-2*testInterval || d > testTimeout+time.Second {
		t.Errorf("stall noticed after %v, want about %v", d, testTimeout)
	}
	if err := rec.firstError(t); !errors.Is(err, client.ErrHealthTimeout) {
		t.Errorf("error = %v, want ErrHealthTimeout", err)
	}
	if c.IsHealthy() {
		t.Error("healthy while stalled")
	}
	if got := c.State(); got != client.StateConnecting {
		t.Errorf("State while stalled = %v, want connecting", got)
	}
	healed := time.Now()
	p.Heal()
	rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
	t.Logf("back online %v after the heal", time.Since(healed))
}

func TestFault_DelayBelowTimeoutKeepsConnection(t *testing.T) {
	fs, p, c, rec := proxied(t)
	sc := fs.nextConn(t)
	p.SetDelay(testTimeout / 5)
	// Health checks keep passing through the delay (the proxy passes one
	// chunk per delay) for longer than the health timeout: the connection
	// holds.
	start := sc.pings.Load()
	poll(t, "eight delayed health checks", waitLimit, func() bool { return sc.pings.Load() >= start+8 })
	if _, err := c.QueryChannels(testCtx(t), protocol.QueryChannelsRequest{}); err == nil {
		t.Log("query channels answered through the delay")
	}
	p.Heal()
	if got := rec.connectionEvents(); len(got) != 1 {
		t.Fatalf("connection events = %v, want [on]", got)
	}
}

func TestFault_DelayAboveTimeoutReconnects(t *testing.T) {
	_, p, _, rec := proxied(t)
	p.SetDelay(2 * testTimeout)
	rec.waitSeq(t, reconnectBound, "on", "off")
	p.Heal()
	rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
}

func TestFault_OutageRetriesUntilHealed(t *testing.T) {
	_, p, c, rec := proxied(t)
	p.Refuse()
	p.Cut()
	rec.waitSeq(t, reconnectBound, "on", "off")
	// It keeps trying, with backoff, while the outage lasts.
	before := p.Accepted()
	poll(t, "three more dial attempts", waitLimit, func() bool { return p.Accepted() >= before+3 })
	if got := c.State(); got != client.StateConnecting {
		t.Errorf("State during the outage = %v, want connecting", got)
	}
	if got := rec.connectionEvents(); len(got) != 2 {
		t.Fatalf("connection events during the outage = %v, want [on off] (no duplicate off)", got)
	}
	healed := time.Now()
	p.Heal()
	rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
	// The reconnect delay is capped at MaxReconnectDelay (and never more
	// than the health-check interval): a healed network is noticed soon.
	if d := time.Since(healed); d > testMaxDelay+time.Second {
		t.Errorf("back online %v after the heal, want within about %v", d, testMaxDelay)
	}
}

func TestFault_ServerRestartOnSameAddress(t *testing.T) {
	fs, _, _, rec := proxied(t)
	fs.srv.Stop()
	rec.waitSeq(t, reconnectBound, "on", "off")
	if err := fs.srv.Start(); err != nil {
		t.Fatal(err)
	}
	rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
}

func TestFault_ServerRestartDirect(t *testing.T) {
	// Without the proxy: the client dials the server's own address.
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	rec := record(c)
	mustConnect(t, c)
	if err := fs.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
}

func TestFault_ServerCloses(t *testing.T) {
	for _, code := range []websocket.StatusCode{websocket.StatusGoingAway, websocket.StatusPolicyViolation, websocket.StatusNormalClosure} {
		t.Run(code.String(), func(t *testing.T) {
			fs := newFakeServer(t)
			c := newClient(t, fs.URL())
			rec := record(c)
			mustConnect(t, c)
			sc := fs.nextConn(t)
			sc.conn.Close(code, "bye")
			rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
			err := lastError(t, rec)
			if got := websocket.CloseStatus(err); got != code {
				t.Errorf("close status in %v = %v, want %v", err, got, code)
			}
		})
	}
}

func TestFault_DisconnectDuringOutage(t *testing.T) {
	_, p, c, rec := proxied(t)
	p.Stall()
	rec.waitSeq(t, reconnectBound, "on", "off")
	done := make(chan struct{})
	go func() { c.Disconnect(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Disconnect hung on a stalled network")
	}
	if got := c.State(); got != client.StateDisconnected {
		t.Errorf("State = %v, want disconnected", got)
	}
	if got := rec.connectionEvents(); len(got) != 2 {
		t.Errorf("connection events = %v, want [on off]", got)
	}
}

func TestFault_CloseWhileStalled(t *testing.T) {
	_, p, c, rec := proxied(t)
	p.Stall() // the close handshake gets no answer
	start := time.Now()
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The close handshake is cut at 1s; without the cut, the WebSocket
	// library waits 5s for it. 4s leaves a loaded machine room.
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Close took %v on a stalled network", d)
	}
	if got := rec.connectionEvents(); len(got) != 2 || got[1] != "off" {
		t.Errorf("connection events = %v, want [on off]", got)
	}
}
