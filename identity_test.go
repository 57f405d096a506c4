package outpost_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/outpostsync/outpost/token"
)

func openCfg(url, user, tokenUser, path string) outpost.Config {
	tok, _ := token.Issue(secret, tokenUser, time.Hour)
	return outpost.Config{ServerURL: url, UserID: user, Token: tok, DBPath: path,
		ConnectTimeout: 3 * time.Second, // to hear a refused token from Open
		Client:         client.Config{MinReconnectDelay: 5 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond},
		Sync:           offlineSync()}
}

// privateChannel makes a channel only alice is a member of.
func privateChannel(t *testing.T, url string) string {
	t.Helper()
	alice := open(t, url, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(context.Background(), protocol.CreateChannelRequest{Type: "team", ID: "alice-only"})
	if err != nil {
		t.Fatal(err)
	}
	return ch.Channel.CID
}

// TestIdentity_WrongToken: Open for bob with alice's token fails with a
// permanent *client.UserMismatchError, and bob's store holds nothing of
// alice's.
func TestIdentity_WrongToken(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	privateChannel(t, ts.URL)
	path := filepath.Join(t.TempDir(), "bob.db")
	c, err := outpost.Open(ctx, openCfg(ts.URL, "bob", "alice", path))
	if err == nil {
		c.Close(context.Background())
		t.Fatal("Open for bob with alice's token: no error")
	}
	var um *client.UserMismatchError
	if !errors.As(err, &um) || um.Want != "bob" || um.Got != "alice" {
		t.Fatalf("err = %v, want a *client.UserMismatchError (want bob, got alice)", err)
	}
	if !client.IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = false", err)
	}
	db, err := store.Open(ctx, path, offlinedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	chans, err := db.Channels(ctx, offlinedb.ChannelsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 0 {
		t.Errorf("bob's store holds %d channels, want none", len(chans))
	}
}

// TestIdentity_WrongDBUser: bob opening alice's store is refused with an
// *offlinedb.IdentityError; with WipeOnIdentityChange the store is wiped
// first, and alice's offline write is never sent as bob.
func TestIdentity_WrongDBUser(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	cid := privateChannel(t, ts.URL)
	path := filepath.Join(t.TempDir(), "alice.db")
	a, err := outpost.Open(ctx, openCfg(ts.URL, "alice", "alice", path))
	if err != nil {
		t.Fatal(err)
	}
	outpost.ConnOf(a).Disconnect()
	if _, err := a.SendMessage(ctx, cid, outpost.NewMessage{Text: "alice's unsent words"}); err != nil {
		t.Fatal(err)
	}
	a.Close(context.Background())

	_, err = outpost.Open(ctx, openCfg(ts.URL, "bob", "bob", path))
	var ie *offlinedb.IdentityError
	if !errors.As(err, &ie) || ie.Field != "user" || ie.Stored != "alice" || ie.Want != "bob" {
		t.Fatalf("err = %v, want an *offlinedb.IdentityError for user alice", err)
	}

	cfg := openCfg(ts.URL, "bob", "bob", path)
	cfg.WipeOnIdentityChange = true
	b, err := outpost.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if err := b.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	chans, _, err := b.Channels(ctx, offlinedb.ChannelsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chans {
		if ch.CID == cid {
			t.Errorf("bob sees alice's private channel %s", cid)
		}
	}
	if p, _ := outpost.StoreOf(b).PendingTasks(ctx); len(p) != 0 {
		t.Errorf("the wiped store still has %d pending tasks", len(p))
	}
	if user, _, _ := outpost.StoreOf(b).Identity(ctx); user != "bob" {
		t.Errorf("store bound to %q, want bob", user)
	}
	alice := open(t, ts.URL, "alice")
	if got := onServer(t, alice, cid); len(got) != 0 {
		t.Errorf("the server got %v from the wiped outbox", got)
	}
}

// reinstallable is one URL whose server can be replaced by a new install,
// with a fresh database, as a reinstall behind a fixed address would.
type reinstallable struct {
	*httptest.Server
	mu    sync.Mutex
	cur   *server.Server
	store *sqlitestore.Store
}

func startReinstallable(t *testing.T) *reinstallable {
	t.Helper()
	r := &reinstallable{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		h := r.cur
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	r.install(t)
	t.Cleanup(func() {
		r.Server.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.cur.Close()
		r.store.Close()
	})
	return r
}

// install serves a fresh database at the URL, and returns its server id.
func (r *reinstallable) install(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "server.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler),
		HealthInterval: 100 * time.Millisecond, WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	old, oldStore := r.cur, r.store
	r.cur, r.store = srv, st
	r.mu.Unlock()
	if old != nil {
		old.Close() // its WebSockets end; the client reconnects to the new one
		oldStore.Close()
	}
	id, err := st.ServerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// serverLog returns the head of every channel's log on the current
// install, as a user of it sees them.
func (r *reinstallable) serverLog(t *testing.T, user string) string {
	t.Helper()
	c := open(t, r.URL, user)
	res, err := outpost.ConnOf(c).Sync(context.Background(), protocol.SyncRequest{Channels: []protocol.ChannelPosition{}})
	if err != nil {
		t.Fatal(err)
	}
	var heads []string
	resp, err := outpost.ConnOf(c).QueryChannels(context.Background(), protocol.QueryChannelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range resp.Channels {
		heads = append(heads, fmt.Sprintf("%s@%d", ch.Channel.CID, ch.Position.Seq))
	}
	return fmt.Sprintf("feed %d %v", res.Feed.Position.Seq, heads)
}

// TestIdentity_SameServerOtherName: a store is bound to its server, not to
// the URL: reached through localhost and then 127.0.0.1 (or with a
// trailing slash) it keeps syncing and writing.
func TestIdentity_SameServerOtherName(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	cid := privateChannel(t, ts.URL)
	byName := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	path := filepath.Join(t.TempDir(), "alice.db")
	for i, url := range []string{byName, ts.URL, ts.URL + "/"} {
		a, err := outpost.Open(ctx, openCfg(url, "alice", "alice", path))
		if err != nil {
			t.Fatalf("open through %s: %v", url, err)
		}
		if _, err := a.SendMessage(ctx, cid, outpost.NewMessage{Text: fmt.Sprintf("through %d", i)}); err != nil {
			t.Fatal(err)
		}
		if err := a.WaitSynced(ctx); err != nil {
			t.Fatalf("through %s: %v", url, err)
		}
		if st := a.Status(); st.Fatal != nil || st.Pending != 0 || st.Failed != 0 {
			t.Errorf("through %s: status %+v", url, st)
		}
		if got, srv := local(t, a, cid), onServer(t, a, cid); len(got) != i+1 || !slices.Equal(got, srv) {
			t.Errorf("through %s: local %v, server %v", url, got, srv)
		}
		b, err := outpost.StoreOf(a).ServerBinding(ctx)
		if err != nil || b.ServerID == "" || b.ServerID != outpost.ConnOf(a).Hello().ServerID {
			t.Errorf("through %s: binding %+v, %v; the server says %+v", url, b, err, outpost.ConnOf(a).Hello())
		}
		a.Close(ctx)
	}
}

// TestIdentity_FreshDatabaseBehindSameURL: the server at the store's URL
// is reinstalled with a fresh database. The store finds out after Open
// returned: the manager stops for good (status and OnError say so with a
// *client.ServerMismatchError), nothing is sent to the new server, the
// outbox is intact and local writes are still accepted.
func TestIdentity_FreshDatabaseBehindSameURL(t *testing.T) {
	ctx := context.Background()
	srv := startReinstallable(t)
	cid := privateChannel(t, srv.URL)
	path := filepath.Join(t.TempDir(), "alice.db")
	fatal := make(chan *syncmanager.Error, 10)
	cfg := openCfg(srv.URL, "alice", "alice", path)
	cfg.OnError = func(e *syncmanager.Error) {
		if e.Kind == syncmanager.ErrorFatal {
			fatal <- e
		}
	}
	a, err := outpost.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	if err := a.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	a.Disconnect(ctx)
	if _, err := a.SendMessage(ctx, cid, outpost.NewMessage{Text: "for the old server"}); err != nil {
		t.Fatal(err)
	}
	before, err := a.PendingTasks(ctx)
	if err != nil || len(before) != 1 {
		t.Fatalf("pending = %v, %v", before, err)
	}

	srv.install(t)
	// The new install has alice's channel id too, and a log to keep.
	privateChannel(t, srv.URL)
	log := srv.serverLog(t, "alice")

	if err := a.Connect(ctx); err == nil {
		t.Error("Connect to another server: no error")
	}
	var e *syncmanager.Error
	select {
	case e = <-fatal:
	case <-time.After(10 * time.Second):
		t.Fatal("OnError heard no ErrorFatal")
	}
	var sm *client.ServerMismatchError
	if !errors.As(e, &sm) || !client.IsPermanent(e.Err) {
		t.Errorf("OnError got %v, want a permanent *client.ServerMismatchError", e)
	}
	if st := a.Status(); !errors.As(st.Fatal, &sm) {
		t.Errorf("Status().Fatal = %v, want a *client.ServerMismatchError", st.Fatal)
	}
	if err := a.SyncNow(ctx); !errors.As(err, &sm) {
		t.Errorf("SyncNow = %v, want a *client.ServerMismatchError", err)
	}

	// Local writes still queue; nothing leaves.
	if _, err := a.SendMessage(ctx, cid, outpost.NewMessage{Text: "still written locally"}); err != nil {
		t.Fatalf("a local write after the mismatch: %v", err)
	}
	after, err := a.PendingTasks(ctx)
	if err != nil || len(after) != 2 || after[0].ID != before[0].ID || string(after[0].Payload) != string(before[0].Payload) {
		t.Errorf("pending after = %+v, %v; want the first one intact and the new one", after, err)
	}
	if got := srv.serverLog(t, "alice"); got != log {
		t.Errorf("the new server's log moved: %s, was %s", got, log)
	}
	if got := onServer(t, open(t, srv.URL, "alice"), cid); len(got) != 0 {
		t.Errorf("the new server got %v", got)
	}
}

// TestIdentity_OpenFindsAnotherServer: Open that meets another server
// than the store's before it returns fails with the
// *client.ServerMismatchError and leaves the store as it was.
func TestIdentity_OpenFindsAnotherServer(t *testing.T) {
	ctx := context.Background()
	one, two := startServer(t), startServer(t)
	privateChannel(t, one.URL)
	path := filepath.Join(t.TempDir(), "alice.db")
	a, err := outpost.Open(ctx, openCfg(one.URL, "alice", "alice", path))
	if err != nil {
		t.Fatal(err)
	}
	a.Close(ctx)

	_, err = outpost.Open(ctx, openCfg(two.URL, "alice", "alice", path))
	var sm *client.ServerMismatchError
	if !errors.As(err, &sm) {
		t.Fatalf("err = %v, want a *client.ServerMismatchError", err)
	}
	a, err = outpost.Open(ctx, openCfg(one.URL, "alice", "alice", path))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	chans, _, _ := a.Channels(ctx, offlinedb.ChannelsQuery{})
	if !slices.ContainsFunc(chans, func(c offlinedb.Channel) bool { return c.CID == "team:alice-only" }) {
		t.Error("the store lost its server's channel")
	}
}

// asURLBound turns the store at path into one an earlier release left:
// bound to the URL it first used, without the server binding (the schema
// before the local migration server_id).
func asURLBound(t *testing.T, path, url string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`DROP TABLE server_binding`,
		`DELETE FROM outpost_migrations WHERE set_name = 'outpost_local' AND name LIKE '%server_id%'`,
		`UPDATE store_identity SET server_url = '` + url + `'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestIdentity_URLBoundStoreBindsAfterCleanSync: a store bound by URL
// binds to the server's id after its next sync that needs no reset; one
// whose next sync needs a reset (another database behind the URL) is not
// bound by it.
func TestIdentity_URLBoundStoreBindsAfterCleanSync(t *testing.T) {
	ctx := context.Background()
	manual := func(c *outpost.Config) { c.Sync.SyncPolicy = syncmanager.SyncManually }
	for _, tc := range []struct {
		name      string
		reinstall bool
	}{{"clean sync", false}, {"sync with resets", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startReinstallable(t)
			cid := privateChannel(t, srv.URL)
			path := filepath.Join(t.TempDir(), "alice.db")
			a := openConfig(t, srv.URL, "alice", path, manual)
			syncNow(t, a)
			a.Close(ctx)
			asURLBound(t, path, srv.URL)
			want := outpost.ConnOf(a).Hello().ServerID
			if tc.reinstall {
				want = srv.install(t)
				privateChannel(t, srv.URL)
			}

			a = openConfig(t, srv.URL, "alice", path, manual)
			if b, err := outpost.StoreOf(a).ServerBinding(ctx); err != nil || b.ServerID != "" {
				t.Fatalf("binding of the URL-bound store before its sync = %+v, %v", b, err)
			}
			syncNow(t, a)
			b, err := outpost.StoreOf(a).ServerBinding(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.reinstall {
				if b.ServerID != "" {
					t.Errorf("bound to %q after a sync that reset the store", b.ServerID)
				}
			} else if b.ServerID != want {
				t.Errorf("bound to %q after a clean sync, want %q", b.ServerID, want)
			}
			if b.Hello.ServerID != want {
				t.Errorf("the stored hello names %q, want %q", b.Hello.ServerID, want)
			}
			if !tc.reinstall {
				if got, srv := local(t, a, cid), onServer(t, a, cid); !slices.Equal(got, srv) {
					t.Errorf("local %v, server %v", got, srv)
				}
			}
		})
	}
}

// TestIdentity_RetentionFromHello: the sync manager judges a checkpoint's
// age by the retention window the server says in its hello, which the
// store keeps for an offline start: with the server's 90 days, a store
// last synced 40 days ago syncs on without a reset (30 days, the window
// clients assumed, would have reset it); with the server's 10 days it is
// reset.
func TestIdentity_RetentionFromHello(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		retention time.Duration
		reset     bool
	}{{90 * 24 * time.Hour, false}, {10 * 24 * time.Hour, true}} {
		t.Run(tc.retention.String(), func(t *testing.T) {
			st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "server.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler),
				Retention: tc.retention, WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1})
			if err != nil {
				t.Fatal(err)
			}
			var syncs atomic.Int64
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == protocol.PathSync {
					syncs.Add(1)
				}
				srv.ServeHTTP(w, r)
			}))
			defer func() { ts.Close(); srv.Close(); st.Close() }()
			cid := privateChannel(t, ts.URL)
			path := filepath.Join(t.TempDir(), "alice.db")
			manual := func(c *outpost.Config) { c.Sync.SyncPolicy = syncmanager.SyncManually }
			a := openConfig(t, ts.URL, "alice", path, manual)
			syncNow(t, a)
			a.Close(ctx)

			// An offline start knows the window.
			db, err := store.Open(ctx, path, offlinedb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := db.ServerBinding(ctx)
			if err != nil || b.Hello.Retention() != tc.retention {
				t.Errorf("stored hello %+v, %v; want retention %s", b.Hello, err, tc.retention)
			}
			if err := db.SetLastSyncedAt(ctx, time.Now().Add(-40*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			db.Close()

			var mu sync.Mutex
			reset := false
			marked := make(chan struct{}, 1)
			a = openConfig(t, ts.URL, "alice", path, func(c *outpost.Config) {
				manual(c)
				c.ConnectTimeout = -1
			})
			outpost.ManagerOf(a).OnChange(func(ch syncmanager.Change) {
				mu.Lock()
				reset = reset || ch.Reset
				mu.Unlock()
				if slices.Contains(ch.Messages, "marker") {
					select {
					case marked <- struct{}{}:
					default:
					}
				}
			})
			if err := a.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			before := syncs.Load()
			syncNow(t, a)
			// Changes are heard in order: once the marker's is, a reset
			// of the sync has been too.
			if _, err := outpost.ManagerOf(a).SendMessage(ctx, cid, protocol.MessageInput{ID: "marker", Text: "marker"}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-marked:
			case <-time.After(10 * time.Second):
				t.Fatal("the marker's change was not heard")
			}
			mu.Lock()
			if reset != tc.reset {
				t.Errorf("reset = %v, want %v", reset, tc.reset)
			}
			mu.Unlock()
			if syncs.Load() == before {
				t.Error("no sync request")
			}
			if err := a.WaitSynced(ctx); err != nil {
				t.Fatal(err)
			}
			if got, srv := local(t, a, cid), onServer(t, a, cid); !slices.Equal(got, srv) {
				t.Errorf("local %v, server %v", got, srv)
			}
		})
	}
}
