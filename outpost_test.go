package outpost_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("e2e-secret")

func startServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	return startServerWith(tb, nil)
}

// startServerWith is startServer with the server's config changed by edit
// first.
func startServerWith(tb testing.TB, edit func(*server.Config)) *httptest.Server {
	tb.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	// Tests write as fast as they can: no rate limits (flood_test.go
	// tests them).
	cfg := server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond,
		WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	tb.Cleanup(func() { srv.Close(); ts.Close(); st.Close() })
	return ts
}

func open(tb testing.TB, url, user string) *outpost.Client {
	tb.Helper()
	return openAt(tb, url, user, filepath.Join(tb.TempDir(), user+".db"))
}

// openAt opens user's SDK on the store at path, with fast reconnects.
func openAt(tb testing.TB, url, user, path string) *outpost.Client {
	tb.Helper()
	return openConfig(tb, url, user, path, nil)
}

// openWith is open with the config changed by edit first.
func openWith(tb testing.TB, url, user string, edit func(*outpost.Config)) *outpost.Client {
	tb.Helper()
	return openConfig(tb, url, user, filepath.Join(tb.TempDir(), user+".db"), edit)
}

func openConfig(tb testing.TB, url, user, path string, edit func(*outpost.Config)) *outpost.Client {
	tb.Helper()
	tok, err := token.Issue(secret, user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := outpost.Config{
		ServerURL: url, UserID: user, Token: tok, DBPath: path,
		// The tests start online, as they were written.
		ConnectTimeout: 3 * time.Second,
		Client: client.Config{MinReconnectDelay: 5 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond,
			HealthCheckInterval: 100 * time.Millisecond},
		Sync: offlineSync(),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := outpost.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	waitForWithin(tb, 15*time.Second, what, cond)
}

// waitForWithin is waitFor with a deadline of its own, for work that
// grows with a fixture (slower still under -race).
func waitForWithin(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// local renders a store's live messages of a channel as "id:text:status".
func local(tb testing.TB, c *outpost.Client, cid string) []string {
	tb.Helper()
	ms, err := c.Messages(context.Background(), cid, offlinedb.MessagesQuery{Limit: 500})
	if err != nil {
		tb.Fatal(err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID+":"+m.Text+":"+string(m.Status))
	}
	sort.Strings(out)
	return out
}

// onServer renders the server's live messages of a channel the same way.
func onServer(tb testing.TB, c *outpost.Client, cid string) []string {
	tb.Helper()
	resp, err := outpost.ConnOf(c).QueryMessages(context.Background(), cid, client.MessagesQuery{Limit: 200})
	if err != nil {
		tb.Fatal(err)
	}
	out := []string{}
	for _, m := range resp.Messages {
		if m.DeletedAt == nil {
			out = append(out, m.ID+":"+m.Text+":sent")
		}
	}
	sort.Strings(out)
	return out
}

// TestOfflineStory: Bob goes offline; Alice sends, edits and deletes; Bob
// writes two messages and a reaction offline (pending locally); Bob comes
// back: his outbox drains first, in order, then sync brings Alice's
// changes; both stores equal the server; Bob's status listener saw false
// then true; a callback scheduled offline ran once.
func TestOfflineStory(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	proxy, err := faultproxy.New(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "general", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	first, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "before the outage"}))
	if err != nil {
		t.Fatal(err)
	}
	bob := open(t, proxy.URL(), "bob")
	waitFor(t, "bob to have the channel", func() bool { return len(local(t, bob, cid)) == 1 })

	var mu sync.Mutex
	statuses := []bool{bob.Status().Synced}
	bob.OnStatus(func(s syncmanager.Status) {
		mu.Lock()
		if statuses[len(statuses)-1] != s.Synced {
			statuses = append(statuses, s.Synced)
		}
		mu.Unlock()
	})

	// Bob loses the network.
	proxy.Refuse()
	proxy.Cut()
	waitFor(t, "bob offline", func() bool { return !bob.Status().Synced && !outpost.ConnOf(bob).IsHealthy() })

	// Alice writes.
	a1, _ := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "alice one"}))
	a2, _ := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "alice two"}))
	if _, err := outpost.ManagerOf(alice).UpdateMessage(ctx, cid, a1, protocol.UpdateMessageRequest{Text: "alice one, edited"}); err != nil {
		t.Fatal(err)
	}
	if _, err := outpost.ManagerOf(alice).DeleteMessage(ctx, cid, first, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's outbox to drain", func() bool { st := outpost.ManagerOf(alice).Status(); return st.Pending == 0 && !st.Syncing })

	// Bob writes offline.
	b1, _ := sentID(bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "bob one"}))
	b2, _ := sentID(bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "bob two"}))
	if _, err := outpost.ManagerOf(bob).SendReaction(ctx, cid, b1, protocol.SendReactionRequest{Type: "like"}); err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int32
	outpost.ManagerOf(bob).ScheduleSyncStatusChangeCallback("back-online", func(context.Context) error { ran.Add(1); return nil })
	got := local(t, bob, cid)
	want := []string{b1 + ":bob one:pending", b2 + ":bob two:pending", first + ":before the outage:sent"}
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("bob offline sees %v, want %v", got, want)
	}
	if st := outpost.ManagerOf(bob).Status(); st.Pending != 3 {
		t.Errorf("bob's pending = %d, want 3", st.Pending)
	}

	// Bob is back.
	proxy.Heal()
	waitFor(t, "bob synced with an empty outbox", func() bool {
		st := outpost.ManagerOf(bob).Status()
		return st.Synced && st.Pending == 0 && !st.Syncing
	})
	waitFor(t, "alice to see bob's messages", func() bool { return len(local(t, alice, cid)) == 4 })

	server := onServer(t, alice, cid)
	if g := local(t, bob, cid); strings.Join(g, "|") != strings.Join(server, "|") {
		t.Errorf("bob's store %v != server %v", g, server)
	}
	if g := local(t, alice, cid); strings.Join(g, "|") != strings.Join(server, "|") {
		t.Errorf("alice's store %v != server %v", g, server)
	}
	if len(server) != 4 || !strings.Contains(strings.Join(server, "|"), a1+":alice one, edited") || !strings.Contains(strings.Join(server, "|"), a2) {
		t.Errorf("server state = %v", server)
	}
	// The drain kept Bob's order: b1 before b2 on the server.
	resp, _ := outpost.ConnOf(alice).QueryMessages(ctx, cid, client.MessagesQuery{Limit: 200})
	var order []string
	for _, m := range resp.Messages {
		if m.ID == b1 || m.ID == b2 {
			order = append(order, m.ID)
		}
	}
	if len(order) != 2 || order[0] != b1 {
		t.Errorf("server order of bob's messages = %v, want b1 first", order)
	}
	rs, err := outpost.StoreOf(bob).Reactions(ctx, b1)
	if err != nil || len(rs) != 1 || rs[0].Status != offlinedb.StatusSent {
		t.Errorf("bob's reaction = %+v, %v; want one, sent", rs, err)
	}
	waitFor(t, "callback", func() bool { return ran.Load() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) < 2 || !slices.Contains(statuses, false) || statuses[len(statuses)-1] != true {
		t.Errorf("bob's Synced changes = %v, want ... false ... true", statuses)
	}
}
