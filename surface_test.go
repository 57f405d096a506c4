package outpost_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/syncmanager"
)

// surfaceGate wraps a server's handler: while fail is set, requests to path are
// answered 503; while hold is set, they wait until it is cleared; while
// corrupt is set, the first event of a sync page loses its id.
type surfaceGate struct {
	h       http.Handler
	path    string
	fail    atomic.Bool
	corrupt atomic.Bool
	mu      sync.Mutex
	hold    chan struct{} // non-nil: requests to path wait for it
}

func (g *surfaceGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == g.path {
		g.mu.Lock()
		hold := g.hold
		g.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		if g.fail.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(&protocol.APIError{Code: protocol.CodeInternal, Message: "unavailable", StatusCode: 503})
			return
		}
		if g.corrupt.Load() && r.URL.Path == protocol.PathSync {
			rec := httptest.NewRecorder()
			g.h.ServeHTTP(rec, r)
			var page map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err == nil {
				evs, _ := page["events"].([]any)
				if feed, ok := page["feed"].(map[string]any); ok && len(evs) == 0 {
					evs, _ = feed["events"].([]any)
				}
				if len(evs) > 0 {
					evs[0].(map[string]any)["id"] = ""
				}
				body, _ := json.Marshal(page)
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.Header().Del("Content-Length")
				w.WriteHeader(rec.Code)
				w.Write(body)
				return
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
	}
	g.h.ServeHTTP(w, r)
}

// holdRequests makes requests to the surfaceGate's path wait until release is
// called (at the latest when the test ends).
func (g *surfaceGate) holdRequests(tb testing.TB) (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.hold = ch
	g.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			g.mu.Lock()
			g.hold = nil
			g.mu.Unlock()
			close(ch)
		})
	}
	tb.Cleanup(release)
	return release
}

// startGatedServer starts a real server behind a surfaceGate on path.
func startGatedServer(tb testing.TB, path string) (*httptest.Server, *surfaceGate) {
	tb.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond,
		WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1})
	if err != nil {
		tb.Fatal(err)
	}
	g := &surfaceGate{h: srv, path: path}
	ts := httptest.NewServer(g)
	tb.Cleanup(func() { srv.Close(); ts.Close(); st.Close() })
	return ts, g
}

// errorLog collects the reports of an OnError hook.
type errorLog struct {
	mu   sync.Mutex
	errs []*syncmanager.Error
}

func (l *errorLog) add(e *syncmanager.Error) {
	l.mu.Lock()
	l.errs = append(l.errs, e)
	l.mu.Unlock()
}

// find returns the first report of kind for which match holds.
func (l *errorLog) find(kind syncmanager.ErrorKind, match func(*syncmanager.Error) bool) *syncmanager.Error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.errs {
		if e.Kind == kind && (match == nil || match(e)) {
			return e
		}
	}
	return nil
}

func (l *errorLog) waitFor(tb testing.TB, kind syncmanager.ErrorKind, match func(*syncmanager.Error) bool) *syncmanager.Error {
	tb.Helper()
	var e *syncmanager.Error
	waitFor(tb, "an OnError report of kind "+kind.String(), func() bool { e = l.find(kind, match); return e != nil })
	return e
}

// withErrors sets an OnError hook that logs into l.
func withErrors(l *errorLog) func(*outpost.Config) {
	return func(cfg *outpost.Config) { cfg.OnError = l.add }
}

// postAsCarol makes carol's channel cid with alice in it, posts text in
// it and waits until the server has it.
func postAsCarol(tb testing.TB, url, id, text string) (cid string) {
	tb.Helper()
	ctx := context.Background()
	carol := open(tb, url, "carol")
	ch, err := outpost.ConnOf(carol).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: id, Members: []string{"alice"}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := carol.SendMessage(ctx, ch.Channel.CID, outpost.NewMessage{Text: text}); err != nil {
		tb.Fatal(err)
	}
	if err := carol.WaitSynced(ctx); err != nil {
		tb.Fatal(err)
	}
	return ch.Channel.CID
}

func storeTexts(tb testing.TB, c *outpost.Client, cid string) []string {
	tb.Helper()
	ms, err := c.Messages(context.Background(), cid, offlinedb.MessagesQuery{Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	slices.Sort(out)
	return out
}

func withTimeout(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// idle waits until c's outbox is empty and no cycle runs.
func idle(tb testing.TB, c *outpost.Client) {
	tb.Helper()
	waitFor(tb, "outbox drained", func() bool {
		st := c.Status()
		p, _ := c.PendingTasks(context.Background())
		return st.Online && len(p) == 0 && st.Pending == 0 && !st.Syncing
	})
}

// TestSyncPolicy: on every connect (the default) Open syncs; on reconnects
// only, the first connection drains the outbox but does not sync, and a
// reconnect syncs; manually, only SyncNow syncs.
func TestSyncPolicy(t *testing.T) {
	t.Run("OnConnect", func(t *testing.T) {
		ts := startServer(t)
		cid := postAsCarol(t, ts.URL, "policy", "from carol")
		alice := open(t, ts.URL, "alice")
		if !alice.Status().Synced {
			t.Fatal("Open returned unsynced under SyncOnConnect")
		}
		if got := storeTexts(t, alice, cid); !slices.Equal(got, []string{"from carol"}) {
			t.Fatalf("after Open = %v, want carol's message", got)
		}
	})

	// notSynced opens alice under policy, sends a message and checks
	// that it left while nothing was pulled.
	notSynced := func(t *testing.T, policy syncmanager.SyncPolicy) (*outpost.Client, string) {
		ts := startServer(t)
		cid := postAsCarol(t, ts.URL, "policy", "from carol")
		alice := openWith(t, ts.URL, "alice", func(cfg *outpost.Config) { cfg.Sync.SyncPolicy = policy })
		waitFor(t, "online", func() bool { return alice.Status().Online })
		id, err := sentID(alice.SendMessage(context.Background(), cid, outpost.NewMessage{Text: "from alice"}))
		if err != nil {
			t.Fatal(err)
		}
		idle(t, alice)
		if on := onServer(t, alice, cid); !slices.ContainsFunc(on, func(s string) bool { return strings.HasPrefix(s, id+":") }) {
			t.Fatalf("alice's message did not reach the server: %v", on)
		}
		if alice.Status().Synced {
			t.Fatal("synced on the first connection")
		}
		if got := storeTexts(t, alice, cid); slices.Contains(got, "from carol") {
			t.Fatalf("the store got carol's message without a sync: %v", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := alice.WaitForFirstSync(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitForFirstSync before any sync = %v, want DeadlineExceeded", err)
		}
		return alice, cid
	}

	t.Run("OnReconnect", func(t *testing.T) {
		alice, cid := notSynced(t, syncmanager.SyncOnReconnect)
		alice.Disconnect(context.Background())
		waitFor(t, "offline", func() bool { return !alice.Status().Online })
		if err := alice.Connect(withTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := alice.WaitForFirstSync(withTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := storeTexts(t, alice, cid); !slices.Equal(got, []string{"from alice", "from carol"}) {
			t.Fatalf("after the reconnect = %v, want both messages", got)
		}
	})

	t.Run("Manually", func(t *testing.T) {
		alice, cid := notSynced(t, syncmanager.SyncManually)
		alice.Disconnect(context.Background())
		waitFor(t, "offline", func() bool { return !alice.Status().Online })
		if err := alice.Connect(withTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.SendMessage(context.Background(), cid, outpost.NewMessage{Text: "again"}); err != nil {
			t.Fatal(err)
		}
		idle(t, alice)
		if alice.Status().Synced || slices.Contains(storeTexts(t, alice, cid), "from carol") {
			t.Fatal("synced by itself on a reconnect under SyncManually")
		}
		if err := alice.SyncNow(withTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := alice.WaitForFirstSync(withTimeout(t, time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := storeTexts(t, alice, cid); !slices.Equal(got, []string{"again", "from alice", "from carol"}) {
			t.Fatalf("after SyncNow = %v, want all three", got)
		}
	})
}

// TestOnError reports each kind of error the SDK handles by itself.
func TestOnError(t *testing.T) {
	ctx := context.Background()

	t.Run("WriteFailed", func(t *testing.T) {
		ts := startServer(t)
		var log errorLog
		alice := openWith(t, ts.URL, "alice", withErrors(&log))
		id, err := sentID(alice.SendMessage(ctx, "team:nowhere", outpost.NewMessage{Text: "lost"}))
		if err != nil {
			t.Fatal(err)
		}
		e := log.waitFor(t, syncmanager.ErrorWriteFailed, nil)
		if e.TaskID != id {
			t.Errorf("TaskID = %q, want %q", e.TaskID, id)
		}
		if _, ok := protocol.AsAPIError(e.Err); !ok {
			t.Errorf("Err = %v, want the server's *protocol.APIError", e.Err)
		}
		failed, _ := alice.FailedTasks(ctx)
		if len(failed) != 1 || failed[0].ID != id {
			t.Errorf("failed list = %v, want the task", failed)
		}
	})

	t.Run("Callback", func(t *testing.T) {
		ts := startServer(t)
		var log errorLog
		alice := openWith(t, ts.URL, "alice", withErrors(&log))
		var once sync.Once
		alice.OnStatus(func(syncmanager.Status) { once.Do(func() { panic("listener bug") }) })
		boom := errors.New("callback failed")
		alice.ScheduleSyncStatusChangeCallback("tagged", func(context.Context) error { return boom })
		var onceChange sync.Once
		alice.OnChange(func(syncmanager.Change) { onceChange.Do(func() { panic("change listener bug") }) })
		var onceConn sync.Once
		outpost.ConnOf(alice).OnAll(func(client.Event) { onceConn.Do(func() { panic("handler bug") }) })
		if err := alice.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		e := log.waitFor(t, syncmanager.ErrorCallback, func(e *syncmanager.Error) bool { return e.Callback == "OnStatus" })
		var pe *syncmanager.PanicError
		if !errors.As(e.Err, &pe) || pe.Value != "listener bug" {
			t.Errorf("Err = %v, want a *PanicError of the listener's panic", e.Err)
		}
		e = log.waitFor(t, syncmanager.ErrorCallback, func(e *syncmanager.Error) bool { return e.Callback == "tagged" })
		if !errors.Is(e, boom) {
			t.Errorf("Err = %v, want the callback's error", e.Err)
		}
		if _, err := alice.SendMessage(ctx, "team:nowhere", outpost.NewMessage{Text: "to wake the change listener"}); err != nil {
			t.Fatal(err)
		}
		log.waitFor(t, syncmanager.ErrorCallback, func(e *syncmanager.Error) bool { return e.Callback == "OnChange" })
		// A health check or any event reaches the connection's handler.
		e = log.waitFor(t, syncmanager.ErrorCallback, func(e *syncmanager.Error) bool { return e.Callback == "client handler" })
		var hpe *client.HandlerPanicError
		if !errors.As(e.Err, &hpe) || hpe.Value != "handler bug" {
			t.Errorf("Err = %v, want a *client.HandlerPanicError", e.Err)
		}
	})

	t.Run("DrainRetry", func(t *testing.T) {
		ts, g := startGatedServer(t, protocol.PathBatch)
		var log errorLog
		alice := openWith(t, ts.URL, "alice", withErrors(&log))
		cid := postAsCarol(t, ts.URL, "drain", "hi")
		g.fail.Store(true)
		id, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "retried"}))
		if err != nil {
			t.Fatal(err)
		}
		e := log.waitFor(t, syncmanager.ErrorDrainRetry, nil)
		if e.TaskID != id || e.RetryIn <= 0 {
			t.Errorf("report = %+v, want task %s and a delay", e, id)
		}
		g.fail.Store(false)
		waitFor(t, "the retried drain", func() bool { p, _ := alice.PendingTasks(ctx); return len(p) == 0 })
	})

	t.Run("SyncRetry", func(t *testing.T) {
		ts, g := startGatedServer(t, protocol.PathSync)
		var log errorLog
		alice := openWith(t, ts.URL, "alice", withErrors(&log))
		g.fail.Store(true)
		if err := alice.SyncNow(ctx); err == nil {
			t.Fatal("SyncNow succeeded through a 503")
		}
		e := log.waitFor(t, syncmanager.ErrorSyncRetry, nil)
		if ae, ok := protocol.AsAPIError(e.Err); !ok || ae.StatusCode != 503 {
			t.Errorf("Err = %v, want the 503", e.Err)
		}
		if alice.Status().LastError == nil {
			t.Error("Status().LastError is nil after a failed sync")
		}
		g.fail.Store(false)
		waitFor(t, "the retried sync to clear LastError", func() bool { return alice.Status().LastError == nil && alice.Status().Synced })
	})

	t.Run("EventDropped", func(t *testing.T) {
		ts, g := startGatedServer(t, protocol.PathSync)
		cid := postAsCarol(t, ts.URL, "dropped", "before")
		var log errorLog
		alice := openWith(t, ts.URL, "alice", withErrors(&log))
		alice.Disconnect(context.Background())
		waitFor(t, "offline", func() bool { return !alice.Status().Online })
		// Carol posts while alice is away; the sync page that brings it
		// to alice loses its first event's id on the way.
		carol := open(t, ts.URL, "carol")
		if _, err := carol.SendMessage(ctx, cid, outpost.NewMessage{Text: "broken on the way"}); err != nil {
			t.Fatal(err)
		}
		if err := carol.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		g.corrupt.Store(true)
		if err := alice.Connect(withTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		e := log.waitFor(t, syncmanager.ErrorEventDropped, nil)
		var de *protocol.DroppedEvent
		if !errors.As(e.Err, &de) {
			t.Errorf("Err = %v, want a *protocol.DroppedEvent", e.Err)
		}
	})

	t.Run("Connection", func(t *testing.T) {
		// A port nothing listens on.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var log errorLog
		alice := openWith(t, "http://"+addr, "alice", func(cfg *outpost.Config) {
			cfg.OnError = log.add
			cfg.ConnectTimeout = 0
		})
		log.waitFor(t, syncmanager.ErrorConnection, nil)
		waitFor(t, "LastError while unreachable", func() bool { return alice.Status().LastError != nil })

		// The server comes up on that port: the error clears.
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			t.Skip("the port was taken meanwhile:", err)
		}
		st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "server.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: srv}
		go hs.Serve(ln)
		t.Cleanup(func() { alice.Close(context.Background()); hs.Close(); srv.Close(); st.Close() })
		waitFor(t, "LastError cleared once online", func() bool {
			st := alice.Status()
			return st.Online && st.Synced && st.LastError == nil
		})
	})
}

// TestWaitSynced: writes made offline and a message another user posted
// before the call are all in place when WaitSynced returns, which needs
// the connection back.
func TestWaitSynced(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	if err := alice.WaitForFirstSync(withTimeout(t, time.Second)); err != nil {
		t.Fatal("WaitForFirstSync after Open synced:", err)
	}
	alice.Disconnect(context.Background())
	waitFor(t, "offline", func() bool { return !alice.Status().Online })
	cid := postAsCarol(t, ts.URL, "wait", "posted while alice was away")
	var ids []string
	for _, text := range []string{"one", "two", "three"} {
		id, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: text}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	done := make(chan error, 1)
	go func() { done <- alice.WaitSynced(withTimeout(t, 30*time.Second)) }()
	if err := alice.Connect(withTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p, _ := alice.PendingTasks(ctx); len(p) != 0 {
		t.Errorf("outbox after WaitSynced = %d tasks", len(p))
	}
	if got := storeTexts(t, alice, cid); !slices.Equal(got, []string{"one", "posted while alice was away", "three", "two"}) {
		t.Errorf("store after WaitSynced = %v", got)
	}
	on := strings.Join(onServer(t, alice, cid), " ")
	for _, id := range ids {
		if !strings.Contains(on, id+":") {
			t.Errorf("message %s not on the server after WaitSynced", id)
		}
	}

	// Online and idle, it still waits for a sync of its own.
	if err := alice.WaitSynced(withTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	alice.Close(ctx)
	if err := alice.WaitSynced(ctx); !errors.Is(err, outpost.ErrClosed) {
		t.Errorf("WaitSynced after Close = %v, want ErrClosed", err)
	}
}

// TestClose_FinalDrain: Close sends what the outbox still holds; a Close
// whose ctx ends first returns anyway, and the write waits in the store
// for the next Open.
func TestClose_FinalDrain(t *testing.T) {
	ctx := context.Background()
	noRetry := func(cfg *outpost.Config) { cfg.Sync.RetryMinDelay, cfg.Sync.RetryMaxDelay = time.Hour, time.Hour }

	t.Run("Sent", func(t *testing.T) {
		ts, g := startGatedServer(t, protocol.PathBatch)
		cid := postAsCarol(t, ts.URL, "close", "hi")
		var log errorLog
		alice := openWith(t, ts.URL, "alice", func(cfg *outpost.Config) { noRetry(cfg); cfg.OnError = log.add })
		g.fail.Store(true)
		id, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "last words"}))
		if err != nil {
			t.Fatal(err)
		}
		log.waitFor(t, syncmanager.ErrorDrainRetry, nil) // the next try is an hour away
		g.fail.Store(false)
		if err := alice.Close(withTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		carol := open(t, ts.URL, "carol")
		if on := strings.Join(onServer(t, carol, cid), " "); !strings.Contains(on, id+":last words") {
			t.Errorf("server after Close = %s, want the message", on)
		}
		if err := alice.Close(ctx); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})

	t.Run("Bounded", func(t *testing.T) {
		ts, g := startGatedServer(t, protocol.PathBatch)
		cid := postAsCarol(t, ts.URL, "close", "hi")
		path := filepath.Join(t.TempDir(), "alice.db")
		alice := openConfig(t, ts.URL, "alice", path, noRetry)
		g.holdRequests(t) // the server never answers
		id, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "kept"}))
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			closed <- alice.Close(cctx)
		}()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Close did not return when its ctx ended")
		}
		db, err := store.Open(ctx, path, offlinedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		p, err := db.PendingTasks(ctx)
		if err != nil || len(p) != 1 || p[0].ID != id {
			t.Fatalf("outbox after a bounded Close = %v, %v; want the message", p, err)
		}
	})
}

// TestWriteIDs: each write returns the id of the outbox task that carries
// it (an edit of a pending send its send's, a delete that cancels a send
// ""), the ids PendingTasks lists.
func TestWriteIDs(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	cid := postAsCarol(t, ts.URL, "ids", "hi")
	alice := open(t, ts.URL, "alice")
	sent, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "sent first"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	alice.Disconnect(context.Background())
	waitFor(t, "offline", func() bool { return !alice.Status().Online })

	pending, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "pending"}))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, pending)
	for _, w := range []func() (string, error){
		func() (string, error) { return taskID(alice.UpdateMessage(ctx, cid, sent, "edited")) },
		func() (string, error) { return taskID(alice.SendReaction(ctx, cid, sent, "like")) },
		func() (string, error) { return taskID(alice.DeleteReaction(ctx, cid, sent, "like")) },
		func() (string, error) { return taskID(alice.MarkRead(ctx, cid)) },
	} {
		id, err := w()
		if err != nil {
			t.Fatal(err)
		}
		if id == "" {
			t.Fatal("a queued write returned no id")
		}
		want = append(want, id)
	}
	if id, err := taskID(alice.UpdateMessage(ctx, cid, pending, "pending, edited")); err != nil || id != pending {
		t.Errorf("edit of a pending send = %q, %v; want the send's id %q", id, err, pending)
	}
	var got []string
	tasks, _ := alice.PendingTasks(ctx)
	for _, tk := range tasks {
		got = append(got, tk.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pending tasks = %v, want the returned ids %v", got, want)
	}
	if id, err := taskID(alice.DeleteMessage(ctx, cid, pending, outpost.DeleteOptions{})); err != nil || id != "" {
		t.Errorf("delete of a pending send = %q, %v; want \"\" (cancelled)", id, err)
	}
}

// TestChannelsPages: Channels pages through every channel, each once,
// with a cursor; a bad cursor is an error.
func TestChannelsPages(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	const n = 7
	for i := range n {
		if _, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "c" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	var all []string
	pages := 0
	for q := (offlinedb.ChannelsQuery{Limit: 3}); ; {
		chans, next, err := alice.Channels(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range chans {
			all = append(all, c.CID)
		}
		if next == "" {
			break
		}
		q.After = next
	}
	slices.Sort(all)
	if len(all) != n || len(slices.Compact(slices.Clone(all))) != n || pages != 3 {
		t.Errorf("pages = %d with %v, want 3 pages of %d distinct channels", pages, all, n)
	}
	if _, _, err := alice.Channels(ctx, offlinedb.ChannelsQuery{After: "nonsense"}); !errors.Is(err, offlinedb.ErrInvalidCursor) {
		t.Errorf("bad cursor = %v, want ErrInvalidCursor", err)
	}
}
