package outpost_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

// posServer is a real server whose store the test can reach (to prune
// it) and whose channel-state queries it can count.
type posServer struct {
	*httptest.Server
	store *sqlitestore.Store

	mu      sync.Mutex
	queried map[string]int // cid -> times its state was asked for
}

func startPosServer(tb testing.TB) *posServer {
	tb.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	ps := &posServer{store: st, queried: map[string]int{}}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == protocol.PathQueryChannels {
			body, _ := io.ReadAll(r.Body)
			var req protocol.QueryChannelsRequest
			if json.Unmarshal(body, &req) == nil {
				ps.mu.Lock()
				for _, cid := range req.CIDs {
					ps.queried[cid]++
				}
				ps.mu.Unlock()
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		srv.ServeHTTP(w, r)
	}))
	tb.Cleanup(func() { srv.Close(); ps.Close(); st.Close() })
	return ps
}

func (ps *posServer) queries(cid string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.queried[cid]
}

// openAt opens user's store at url with the test's fast reconnects.
func openAt(tb testing.TB, url, user, path string) *outpost.Client {
	tb.Helper()
	tok, err := token.Issue(secret, user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := outpost.Open(context.Background(), outpost.Config{
		ServerURL: url, UserID: user, Token: tok, DBPath: path,
		Client: client.Config{MinReconnectDelay: 5 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond,
			HealthCheckInterval: 100 * time.Millisecond},
		Sync: offlineSync(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func channelCIDs(tb testing.TB, c *outpost.Client) []string {
	tb.Helper()
	chs, err := c.Channels(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	out := []string{}
	for _, ch := range chs {
		out = append(out, ch.CID)
	}
	sort.Strings(out)
	return out
}

// serverCIDs lists the channels the server says c's user is a member of.
func serverCIDs(tb testing.TB, c *outpost.Client) []string {
	tb.Helper()
	resp, err := c.Conn.QueryChannels(context.Background(), protocol.QueryChannelsRequest{Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	out := []string{}
	for _, ch := range resp.Channels {
		out = append(out, ch.Channel.CID)
	}
	sort.Strings(out)
	return out
}

func syncNow(tb testing.TB, c *outpost.Client) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.SyncNow(ctx); err != nil {
		tb.Fatalf("%s: sync: %v", c.UserID(), err)
	}
}

// TestMembershipFeed_Story: Bob has synced and is offline. Alice creates a
// channel with Bob, adds Bob to another, removes him from a third, and
// writes in all three; Bob, with a write to the third queued offline,
// syncs once. He then has exactly the channels he is a member of, with
// their messages; the third is gone locally, and his write to it is on
// the failed list with the server's reason.
func TestMembershipFeed_Story(t *testing.T) {
	ctx := context.Background()
	ps := startPosServer(t)
	proxy, err := faultproxy.New(strings.TrimPrefix(ps.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	alice := open(t, ps.URL, "alice")
	mustCreate := func(id string, members ...string) string {
		t.Helper()
		ch, err := alice.Conn.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: id, Name: "Team " + id, Members: members})
		if err != nil {
			t.Fatal(err)
		}
		return ch.Channel.CID
	}
	general := mustCreate("general", "bob")
	third := mustCreate("third", "bob")
	other := mustCreate("other") // Bob is added while offline
	bob := openAt(t, proxy.URL(), "bob", filepath.Join(t.TempDir(), "bob.db"))
	syncNow(t, bob)
	if got, want := channelCIDs(t, bob), []string{general, third}; !slices.Equal(got, want) {
		t.Fatalf("bob's channels = %v, want %v", got, want)
	}

	proxy.Refuse()
	proxy.Cut()
	waitFor(t, "bob offline", func() bool { return !bob.Conn.IsHealthy() })
	queued, err := bob.SendMessage(ctx, third, "written offline, to a channel about to lose me")
	if err != nil {
		t.Fatal(err)
	}

	joined := mustCreate("random", "bob")
	if _, err := alice.Conn.AddMembers(ctx, other, []string{"bob"}, "add-bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Conn.RemoveMember(ctx, third, "bob", "rm-bob"); err != nil {
		t.Fatal(err)
	}
	for _, cid := range []string{general, third, joined, other} {
		if _, err := alice.SendMessage(ctx, cid, "hello from alice in "+cid); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "alice's outbox to drain", func() bool { st := alice.Status(); return st.Pending == 0 && !st.Syncing })

	proxy.Heal()
	waitFor(t, "bob back online", func() bool { return bob.Conn.IsHealthy() })
	syncNow(t, bob)

	want := []string{general, joined, other}
	sort.Strings(want)
	if got := channelCIDs(t, bob); !slices.Equal(got, want) {
		t.Errorf("bob's channels = %v, want %v", got, want)
	}
	if got := serverCIDs(t, bob); !slices.Equal(got, want) {
		t.Errorf("server's channels for bob = %v, want %v", got, want)
	}
	for _, cid := range want {
		if got, srv := local(t, bob, cid), onServer(t, bob, cid); !slices.Equal(got, srv) {
			t.Errorf("%s: bob has %v, server %v", cid, got, srv)
		}
		ch, err := bob.DB.Channel(ctx, cid)
		if err != nil || ch.Name == "" {
			t.Errorf("%s: channel %+v, %v; want it whole, with its name", cid, ch, err)
		}
	}
	if ms, _ := bob.Messages(ctx, third, offlinedb.MessagesQuery{}); len(ms) > 1 || (len(ms) == 1 && ms[0].ID != queued) {
		t.Errorf("the channel bob left still has rows: %+v", ms)
	}
	failed, err := bob.FailedTasks(ctx)
	if err != nil || len(failed) != 1 || failed[0].MessageID != queued || failed[0].ErrorCode != protocol.CodeNotAllowed {
		t.Fatalf("failed = %+v, %v; want the write to %s, refused with code %d", failed, err, third, protocol.CodeNotAllowed)
	}
	if !strings.Contains(failed[0].Error, "member") {
		t.Errorf("failed reason = %q, want the server's", failed[0].Error)
	}
	if pending, _ := bob.PendingTasks(ctx); len(pending) != 0 {
		t.Errorf("pending = %+v", pending)
	}

	// Live from now on: a channel made for Bob while he is online
	// arrives without a sync being asked for.
	live := mustCreate("live", "bob")
	if _, err := alice.SendMessage(ctx, live, "live hello"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the live channel in bob's store", func() bool {
		return slices.Equal(local(t, bob, live), onServer(t, bob, live)) && len(local(t, bob, live)) == 1
	})
}

// TestPosition_PerChannelReset: one channel's history is pruned past
// Bob's position while he is offline with writes queued to it and to
// another channel. Only that channel is fetched afresh; both writes are
// delivered once.
func TestPosition_PerChannelReset(t *testing.T) {
	ctx := context.Background()
	ps := startPosServer(t)
	proxy, err := faultproxy.New(strings.TrimPrefix(ps.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	alice := open(t, ps.URL, "alice")
	var cids []string
	for _, id := range []string{"pruned", "kept"} {
		ch, err := alice.Conn.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: id, Members: []string{"bob"}})
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, ch.Channel.CID)
	}
	pruned, kept := cids[0], cids[1]
	bob := openAt(t, proxy.URL(), "bob", filepath.Join(t.TempDir(), "bob.db"))
	syncNow(t, bob)
	before := map[string]int{pruned: ps.queries(pruned), kept: ps.queries(kept)}

	proxy.Refuse()
	proxy.Cut()
	waitFor(t, "bob offline", func() bool { return !bob.Conn.IsHealthy() })
	w1, _ := bob.SendMessage(ctx, pruned, "to the pruned channel")
	w2, _ := bob.SendMessage(ctx, kept, "to the kept channel")
	for i := range 20 {
		if _, err := alice.SendMessage(ctx, pruned, fmt.Sprintf("busy %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.SendMessage(ctx, kept, "quiet"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's outbox to drain", func() bool { st := alice.Status(); return st.Pending == 0 && !st.Syncing })
	// Keep 5 events a channel: the pruned channel loses events Bob has
	// not seen, the kept one loses none he has not.
	if _, err := ps.store.Prune(ctx, time.Now().Add(-time.Hour), 5); err != nil {
		t.Fatal(err)
	}

	proxy.Heal()
	waitFor(t, "bob back online", func() bool { return bob.Conn.IsHealthy() })
	syncNow(t, bob)
	waitFor(t, "bob's outbox to drain", func() bool { st := bob.Status(); return st.Pending == 0 && !st.Syncing })
	syncNow(t, bob)

	if n := ps.queries(pruned) - before[pruned]; n != 1 {
		t.Errorf("state of the pruned channel fetched %d times, want once", n)
	}
	if n := ps.queries(kept) - before[kept]; n != 0 {
		t.Errorf("state of the kept channel fetched %d times: it was reset too", n)
	}
	for _, cid := range cids {
		srv := onServer(t, bob, cid)
		if got := local(t, bob, cid); !slices.Equal(got, srv) {
			t.Errorf("%s: bob has %v, server %v", cid, got, srv)
		}
	}
	for cid, id := range map[string]string{pruned: w1, kept: w2} {
		n := 0
		for _, m := range onServer(t, alice, cid) {
			if strings.HasPrefix(m, id+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: bob's write %s is on the server %d times, want once", cid, id, n)
		}
	}
	if failed, _ := bob.FailedTasks(ctx); len(failed) != 0 {
		t.Errorf("failed = %+v", failed)
	}
}

// TestPosition_RefillUnderLoad: a user in several hundred channels syncs
// for the first time while others post into them: every channel arrives
// whole (with its name and every message the server has since its state
// was read), none as a nameless stub.
func TestPosition_RefillUnderLoad(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	const nChannels = 240
	var cids []string
	for i := range nChannels {
		ch, err := alice.Conn.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: fmt.Sprintf("c%03d", i),
			Name: fmt.Sprintf("Channel %d", i), Members: []string{"bob"}})
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, ch.Channel.CID)
	}
	// Posters move channels up and down the activity order all through
	// Bob's first sync.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cid := cids[(i*7+p*13)%len(cids)]
				id := fmt.Sprintf("load-%d-%d", p, i)
				if _, err := alice.Conn.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: id}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	bob := openAt(t, ts.URL, "bob", filepath.Join(t.TempDir(), "bob.db"))
	syncNow(t, bob)
	close(stop)
	wg.Wait()
	syncNow(t, bob)

	if got := channelCIDs(t, bob); len(got) != 100 {
		// Channels lists a page of 100; the store holds them all.
		t.Errorf("bob lists %d channels, want a full page of 100", len(got))
	}
	for _, cid := range cids {
		ch, err := bob.DB.Channel(ctx, cid)
		if err != nil || ch.Name == "" {
			t.Errorf("%s: %+v, %v; want the channel whole", cid, ch, err)
			continue
		}
		srv := onServer(t, alice, cid)
		got := local(t, bob, cid)
		// The state held the latest messages; every later one came by
		// sync: bob has the server's newest ones, and nothing else.
		if len(srv) > 50 {
			continue // older than the state's window; compared below by count
		}
		if !slices.Equal(got, srv) {
			t.Errorf("%s: bob has %v, server %v", cid, got, srv)
		}
	}
}
