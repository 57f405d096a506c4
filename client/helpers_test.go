package client_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Test timings: health checks every 20ms, a connection silent for 1s is
// dead, reconnect delays from 10ms to 50ms. A reconnect after a fault is
// expected within reconnectBound.
const (
	testInterval   = 20 * time.Millisecond
	testTimeout    = time.Second
	testMinDelay   = 10 * time.Millisecond
	testMaxDelay   = 50 * time.Millisecond
	reconnectBound = 3 * time.Second
	waitLimit      = 10 * time.Second
)

func testLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("CLIENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// withTokens is a newClient edit: the client starts with token (none
// when "") and gets the next from provide.
func withTokens(token string, provide func(context.Context) (string, error)) func(*client.Config) {
	return func(cfg *client.Config) { cfg.Token, cfg.TokenProvider = token, provide }
}

// refreshTo is a TokenProvider that gives tok and counts its calls.
func refreshTo(calls *atomic.Int64, tok string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		calls.Add(1)
		return tok, nil
	}
}

// newClient makes a client for url with the test timings, token "good",
// and closes it at the end of the test.
func newClient(tb testing.TB, url string, edit ...func(*client.Config)) *client.Client {
	tb.Helper()
	cfg := client.Config{
		ServerURL:           url,
		UserID:              "alice",
		Token:               "good",
		Logger:              testLogger(),
		MinReconnectDelay:   testMinDelay,
		MaxReconnectDelay:   testMaxDelay,
		HealthCheckInterval: testInterval,
		HealthTimeout:       testTimeout,
	}
	for _, f := range edit {
		f(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return c
}

func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	tb.Cleanup(cancel)
	return ctx
}

func mustConnect(tb testing.TB, c *client.Client) {
	tb.Helper()
	if err := c.Connect(testCtx(tb)); err != nil {
		tb.Fatalf("Connect: %v", err)
	}
}

// recorder keeps every event and error a client delivers.
type recorder struct {
	mu     sync.Mutex // guards the fields below
	events []client.Event
	errs   []client.ErrorEvent
	signal chan struct{}
}

func record(c *client.Client) *recorder {
	r := &recorder{signal: make(chan struct{}, 1)}
	c.OnAll(func(ev client.Event) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		r.poke()
	})
	c.OnError(func(ev client.ErrorEvent) {
		r.mu.Lock()
		r.errs = append(r.errs, ev)
		r.mu.Unlock()
		r.poke()
	})
	return r
}

func (r *recorder) poke() {
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// changes returns the online values of the connection.changed events, in
// order.
func (r *recorder) changes() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []bool
	for _, ev := range r.events {
		if ev.Type == client.EventConnectionChanged {
			out = append(out, ev.Online)
		}
	}
	return out
}

func (r *recorder) count(t protocol.EventType) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if ev.Type == t {
			n++
		}
	}
	return n
}

func (r *recorder) ofType(t protocol.EventType) []protocol.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []protocol.Event
	for _, ev := range r.events {
		if ev.Type == t {
			out = append(out, ev.Event)
		}
	}
	return out
}

// connectionEvents returns the connection.changed and connection.recovered
// events as a compact sequence: "on", "off", "recovered".
func (r *recorder) connectionEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		switch {
		case ev.Type == client.EventConnectionChanged && ev.Online:
			out = append(out, "on")
		case ev.Type == client.EventConnectionChanged:
			out = append(out, "off")
		case ev.Type == client.EventConnectionRecovered:
			out = append(out, "recovered")
		}
	}
	return out
}

func (r *recorder) errors() []client.ErrorEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// waitFor waits until cond holds, checking it after every delivery, or
// fails the test after limit.
func (r *recorder) waitFor(tb testing.TB, what string, limit time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-r.signal:
		case <-deadline.C:
			tb.Fatalf("timed out after %v waiting for %s; connection events %v", limit, what, r.connectionEvents())
		}
	}
}

// waitSeq waits until the connection events are exactly want (and fails at
// once if they go past it or differ).
func (r *recorder) waitSeq(tb testing.TB, limit time.Duration, want ...string) {
	tb.Helper()
	r.waitFor(tb, "connection events "+join(want), limit, func() bool {
		got := r.connectionEvents()
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
			tb.Fatalf("connection events = %v, want %v", got, want)
		}
		return len(got) == len(want)
	})
}

func join(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

// poll waits until cond holds, checking it every millisecond, or fails the
// test after limit.
func poll(tb testing.TB, what string, limit time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			tb.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}

// firstError waits for the first ErrorEvent and returns its error.
func (r *recorder) firstError(tb testing.TB) error {
	tb.Helper()
	r.waitFor(tb, "an ErrorEvent", waitLimit, func() bool { return len(r.errors()) > 0 })
	return r.errors()[0].Err
}

// recv receives from ch, or fails the test after waitLimit.
func recv[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		tb.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
