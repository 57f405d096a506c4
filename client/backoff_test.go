package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/clock"
	"github.com/outpostsync/outpost/protocol"
)

// fakeClockClient makes a client on a fake clock: reconnect delays from
// 100ms, health checks every second, silence allowed for 2.5s. The maximum
// delay is set to a minute, to show that the health-check interval caps it.
func fakeClockClient(t *testing.T, fs *fakeServer) (*client.Client, *clock.Fake, *recorder) {
	t.Helper()
	fk := clock.NewFake(time.Time{})
	c := newClient(t, fs.URL(), func(cfg *client.Config) {
		client.SetClock(cfg, fk)
		cfg.MinReconnectDelay = 100 * time.Millisecond
		cfg.MaxReconnectDelay = time.Minute
		cfg.HealthCheckInterval = time.Second
		cfg.HealthTimeout = 2500 * time.Millisecond
	})
	return c, fk, record(c)
}

// failConnect makes /connect answer 503 while fail is set.
func failConnect(fs *fakeServer, fail *atomic.Bool, retryAfter string) {
	fs.set(func(fs *fakeServer) {
		fs.connectErr = func(w http.ResponseWriter) bool {
			if !fail.Load() {
				return false
			}
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			writeAPIError(w, &protocol.APIError{Code: protocol.CodeInternal, Message: "unavailable", StatusCode: 503})
			return true
		}
	})
}

// startInBackground calls Connect with a done context: the client starts
// trying and Connect returns at once.
func startInBackground(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Connect(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect = %v, want context.Canceled", err)
	}
}

// nextDelay waits until the client waits on its clock and returns the
// delay it chose.
func nextDelay(t *testing.T, fk *clock.Fake) time.Duration {
	t.Helper()
	if err := fk.BlockUntil(testCtx(t), 1); err != nil {
		t.Fatal("client never waited on the clock:", err)
	}
	d, _ := fk.Next()
	return d
}

func TestBackoff_JitteredExponentialCappedAndReset(t *testing.T) {
	fs := newFakeServer(t)
	var fail atomic.Bool
	fail.Store(true)
	failConnect(fs, &fail, "")
	c, fk, rec := fakeClockClient(t, fs)
	startInBackground(t, c)

	// Delays double from 100ms, jittered by ±50%, and never pass the 1s
	// health-check interval (MaxReconnectDelay is a minute).
	bases := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, base := range bases {
		base *= time.Millisecond
		poll(t, "a dial attempt", waitLimit, func() bool { return fs.dials.Load() == int64(i+1) })
		d := nextDelay(t, fk)
		lo, hi := base/2, min(base*3/2, time.Second)
		if d < lo || d > hi {
			t.Fatalf("delay %d = %v, want in [%v, %v]", i+1, d, lo, hi)
		}
		// No attempt before the delay is up: the timer is still pending.
		fk.Advance(d - time.Nanosecond)
		if got := fk.Pending(); got != 1 {
			t.Fatalf("attempt %d: %d timers pending a nanosecond early, want 1", i+1, got)
		}
		if got := fs.dials.Load(); got != int64(i+1) {
			t.Fatalf("dialled early: %d dials, want %d", got, i+1)
		}
		if got := c.State(); got != client.StateConnecting {
			t.Fatalf("State = %v, want connecting", got)
		}
		if i == len(bases)-1 {
			fail.Store(false) // the server comes back: the next attempt connects
		}
		fk.Advance(time.Nanosecond)
	}
	rec.waitSeq(t, waitLimit, "on")
	if n := len(rec.errors()); n != len(bases) {
		t.Errorf("%d ErrorEvents, want one per failed attempt (%d)", n, len(bases))
	}

	// After a connection that came up, delays start again from 100ms.
	fs.nextConn(t).conn.CloseNow()
	rec.waitSeq(t, waitLimit, "on", "off")
	fail.Store(true)
	if d := nextDelay(t, fk); d < 50*time.Millisecond || d > 150*time.Millisecond {
		t.Fatalf("first delay after a healthy connection = %v, want in [50ms, 150ms]", d)
	}
}

func TestBackoff_RetryAfterHonoured(t *testing.T) {
	fs := newFakeServer(t)
	var fail atomic.Bool
	fail.Store(true)
	failConnect(fs, &fail, "7")
	c, fk, rec := fakeClockClient(t, fs)
	startInBackground(t, c)
	if d := nextDelay(t, fk); d != 7*time.Second {
		t.Fatalf("delay = %v, want the server's Retry-After of 7s", d)
	}
	errs := rec.errors()
	rec.waitFor(t, "the ErrorEvent", waitLimit, func() bool { errs = rec.errors(); return len(errs) == 1 })
	if d, ok := client.RetryAfter(errs[0].Err); !ok || d != 7*time.Second {
		t.Errorf("RetryAfter(%v) = %v, %v", errs[0].Err, d, ok)
	}
	fail.Store(false)
	fk.Advance(7 * time.Second)
	rec.waitSeq(t, waitLimit, "on")
}

func TestHealth_SilenceTimesOutOnFakeClock(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.echo = false }) // only the first health.check
	c, fk, rec := fakeClockClient(t, fs)
	mustConnect(t, c)
	sc := fs.nextConn(t)
	// Online: a silence timer and the health-check ticker.
	if err := fk.BlockUntil(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 2; i++ {
		fk.Advance(time.Second)
		poll(t, "a health check from the client", waitLimit, func() bool { return sc.pings.Load() == i })
	}
	fk.Advance(499 * time.Millisecond)
	if got := c.State(); got != client.StateConnected {
		t.Fatalf("State = %v before the health timeout, want connected", got)
	}
	if !c.IsHealthy() {
		t.Error("IsHealthy = false before the health timeout")
	}
	fk.Advance(time.Millisecond) // 2.5s of silence
	rec.waitSeq(t, waitLimit, "on", "off")
	if err := rec.firstError(t); !errors.Is(err, client.ErrHealthTimeout) {
		t.Errorf("error = %v, want ErrHealthTimeout", err)
	}
}

func TestHealth_FramesKeepConnectionAlive(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.echo = false })
	c, fk, rec := fakeClockClient(t, fs)
	mustConnect(t, c)
	sc := fs.nextConn(t)
	if err := fk.BlockUntil(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	// Ten seconds of fake time, the server sending an event every two:
	// never 2.5s of silence, so no drop.
	for i := 1; i <= 5; i++ {
		fk.Advance(2 * time.Second)
		sc.send(messageEvent(i))
		rec.waitFor(t, "the event", waitLimit, func() bool { return rec.count(protocol.EventMessageNew) == i })
	}
	if got := rec.connectionEvents(); len(got) != 1 {
		t.Fatalf("connection events = %v, want [on]", got)
	}
}
