package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait in these tests.
const waitTimeout = 20 * time.Second

var testSecret = []byte("desktop-test-secret")

// startServer runs a real sync server on SQLite in a temp dir and returns
// its URL.
// Each wrap, if any, wraps the server's handler.
func startServer(tb testing.TB, wrap ...func(http.Handler) http.Handler) string {
	tb.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: testSecret,
		Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	var h http.Handler = srv
	for _, w := range wrap {
		h = w(h)
	}
	ts := httptest.NewServer(h)
	tb.Cleanup(func() { srv.Close(); ts.Close(); st.Close() })
	return ts.URL
}

// gate holds, once armed, the requests that match after the first pass
// of them, until it is opened: a sync held after two pages, say, so that
// the test sees the sync in progress for as long as it looks.
type gate struct {
	match func(*http.Request) bool
	pass  int

	mu     sync.Mutex
	armed  bool
	n      int
	opened chan struct{}
	once   sync.Once
}

func newGate(tb testing.TB, pass int, match func(*http.Request) bool) *gate {
	g := &gate{match: match, pass: pass, opened: make(chan struct{})}
	// Registered before the server's, so it runs after: the server's
	// close waits for the requests the gate holds.
	tb.Cleanup(g.open)
	return g
}

func (g *gate) arm() {
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
}

func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.match(r) {
			g.mu.Lock()
			hold := g.armed && g.n >= g.pass
			if g.armed {
				g.n++
			}
			g.mu.Unlock()
			if hold {
				<-g.opened
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadURL returns the URL of a port that refuses connections: a server
// that is down.
func deadURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func testConfig(tb testing.TB, url, user, db string) config {
	tb.Helper()
	tok, err := token.Issue(testSecret, user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return config{server: url, user: user, token: tok, db: db}
}

// instance is one running instance of the app without its window: the model
// over the real store, as run opens it.
type instance struct {
	tb      testing.TB
	m       *Model
	c       chan *outpost.Client // the client, once open succeeded
	client  *outpost.Client
	changed chan struct{} // poked on each new view

	mu   sync.Mutex // guards seen
	seen []View     // every view made, in order
}

// startApp opens the model the way run does, on cfg.
func startApp(tb testing.TB, cfg config) *instance {
	tb.Helper()
	a := &instance{tb: tb, c: make(chan *outpost.Client, 1), changed: make(chan struct{}, 1)}
	a.m = NewModel(cfg.user, func(ctx context.Context) (TaskStore, error) {
		c, s, err := openStore(ctx, cfg)
		if err != nil {
			return nil, err
		}
		a.c <- c
		return s, nil
	}, func(v View) {
		a.mu.Lock()
		a.seen = append(a.seen, v)
		a.mu.Unlock()
		select {
		case a.changed <- struct{}{}:
		default:
		}
	})
	tb.Cleanup(a.close)
	return a
}

// sdk returns the app's SDK client once the store is open.
func (a *instance) sdk() *outpost.Client {
	a.tb.Helper()
	if a.client == nil {
		select {
		case a.client = <-a.c:
		case <-time.After(waitTimeout):
			a.tb.Fatal("the store did not open")
		}
	}
	return a.client
}

// close closes the model, then the client, as run does.
func (a *instance) close() {
	a.m.Close()
	select {
	case a.client = <-a.c:
	default:
	}
	if a.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a.client.Close(ctx)
		a.client = nil
	}
}

// wait waits until the view satisfies cond, and returns it. It wakes on
// each new view, no polling of the store.
func (a *instance) wait(what string, cond func(View) bool) View {
	a.tb.Helper()
	deadline := time.After(waitTimeout)
	for {
		v := a.m.View()
		if cond(v) {
			return v
		}
		select {
		case <-a.changed:
		case <-deadline:
			a.tb.Fatalf("%s: timed out waiting for %s; view: %+v", v.User, what, v)
		}
	}
}

// sawView waits until some view made so far satisfied cond (the latest
// may have moved on), and returns the first that did.
func (a *instance) sawView(what string, cond func(View) bool) View {
	a.tb.Helper()
	deadline := time.After(waitTimeout)
	for {
		a.mu.Lock()
		i := slices.IndexFunc(a.seen, cond)
		var v View
		if i >= 0 {
			v = a.seen[i]
		}
		a.mu.Unlock()
		if i >= 0 {
			return v
		}
		select {
		case <-a.changed:
		case <-deadline:
			a.tb.Fatalf("timed out waiting for a view with %s", what)
		}
	}
}

// titles returns the view's task titles with their marks.
func titles(v View) []string {
	var out []string
	for _, t := range v.Tasks {
		s := t.Title
		if t.Done {
			s = "[x] " + s
		}
		if t.Mark != Synced {
			s += " (" + string(t.Mark) + ")"
		}
		out = append(out, s)
	}
	return out
}

// taskID returns the id of the task titled title in v.
func taskID(tb testing.TB, v View, title string) string {
	tb.Helper()
	for _, t := range v.Tasks {
		if t.Title == title {
			return t.ID
		}
	}
	tb.Fatalf("no task %q in %q", title, titles(v))
	return ""
}
