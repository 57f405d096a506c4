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
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
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

// proxyTo returns a fault proxy in front of the server at url.
func proxyTo(tb testing.TB, url string) *faultproxy.Proxy {
	tb.Helper()
	p, err := faultproxy.New(strings.TrimPrefix(url, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

func (ps *posServer) queries(cid string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.queried[cid]
}

func channelCIDs(tb testing.TB, c *outpost.Client) []string {
	tb.Helper()
	chs, _, err := c.Channels(context.Background(), offlinedb.ChannelsQuery{})
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
	resp, err := outpost.ConnOf(c).QueryChannels(context.Background(), protocol.QueryChannelsRequest{Limit: 100})
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
	syncNowWithin(tb, c, 20*time.Second)
}

// syncNowWithin is syncNow with a bound of its own, for a sync that grows
// with a fixture.
func syncNowWithin(tb testing.TB, c *outpost.Client, d time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
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
	proxy := proxyTo(t, ps.URL)

	alice := open(t, ps.URL, "alice")
	mustCreate := func(id string, members ...string) string {
		t.Helper()
		ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: id, Name: "Team " + id, Members: members})
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
	waitFor(t, "bob offline", func() bool { return !outpost.ConnOf(bob).IsHealthy() })
	queued, err := sentID(bob.SendMessage(ctx, third, outpost.NewMessage{Text: "written offline, to a channel about to lose me"}))
	if err != nil {
		t.Fatal(err)
	}

	joined := mustCreate("random", "bob")
	if _, err := outpost.ConnOf(alice).AddMembers(ctx, other, []string{"bob"}, client.IdempotencyKey("add-bob")); err != nil {
		t.Fatal(err)
	}
	if _, err := outpost.ConnOf(alice).RemoveMember(ctx, third, "bob", client.IdempotencyKey("rm-bob")); err != nil {
		t.Fatal(err)
	}
	for _, cid := range []string{general, third, joined, other} {
		if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "hello from alice in " + cid}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "alice's outbox to drain", func() bool { st := alice.Status(); return st.Pending == 0 && !st.Syncing })

	proxy.Heal()
	waitFor(t, "bob back online", func() bool { return outpost.ConnOf(bob).IsHealthy() })
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
		ch, err := outpost.StoreOf(bob).Channel(ctx, cid)
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
	if _, err := alice.SendMessage(ctx, live, outpost.NewMessage{Text: "live hello"}); err != nil {
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
	proxy := proxyTo(t, ps.URL)
	alice := open(t, ps.URL, "alice")
	var cids []string
	for _, id := range []string{"pruned", "kept"} {
		ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: id, Members: []string{"bob"}})
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
	waitFor(t, "bob offline", func() bool { return !outpost.ConnOf(bob).IsHealthy() })
	w1, _ := sentID(bob.SendMessage(ctx, pruned, outpost.NewMessage{Text: "to the pruned channel"}))
	w2, _ := sentID(bob.SendMessage(ctx, kept, outpost.NewMessage{Text: "to the kept channel"}))
	for i := range 20 {
		if _, err := alice.SendMessage(ctx, pruned, outpost.NewMessage{Text: fmt.Sprintf("busy %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.SendMessage(ctx, kept, outpost.NewMessage{Text: "quiet"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's outbox to drain", func() bool { st := alice.Status(); return st.Pending == 0 && !st.Syncing })
	// Keep 5 events a channel: the pruned channel loses events Bob has
	// not seen, the kept one loses none he has not.
	if _, err := ps.store.Prune(ctx, time.Now().Add(-time.Hour), 5); err != nil {
		t.Fatal(err)
	}

	proxy.Heal()
	waitFor(t, "bob back online", func() bool { return outpost.ConnOf(bob).IsHealthy() })
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
	// More than a Channels page and a QueryChannels request hold; half
	// as many under -race, where each channel's state and records take
	// several times longer to fetch and store.
	nChannels := map[bool]int{false: 240, true: 120}[raceOn]
	var cids []string
	for i := range nChannels {
		ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: fmt.Sprintf("c%03d", i),
			Name: fmt.Sprintf("Channel %d", i), Members: []string{"bob"}})
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, ch.Channel.CID)
	}
	// Posters move channels up and down the activity order all through
	// Bob's first sync, each at most one post every 10ms: unpaced, they
	// post as fast as the cores let them and leave Bob's sync, which
	// makes its requests one after another, the scraps (under -race on a
	// loaded machine it outlasted syncNow's bound several times over).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				cid := cids[(i*7+p*13)%len(cids)]
				id := fmt.Sprintf("load-%d-%d", p, i)
				if _, err := outpost.ConnOf(alice).SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: id}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	bob := openAt(t, ts.URL, "bob", filepath.Join(t.TempDir(), "bob.db"))
	// A first sync of this many channels makes two requests a channel
	// (its state, its records), one after another: under -race on a
	// loaded machine that outlasts syncNow's 20 s.
	syncNowWithin(t, bob, 2*time.Minute)
	close(stop)
	wg.Wait()
	syncNow(t, bob)

	if got := channelCIDs(t, bob); len(got) != 100 {
		// Channels lists a page of 100; the store holds them all.
		t.Errorf("bob lists %d channels, want a full page of 100", len(got))
	}
	for _, cid := range cids {
		ch, err := outpost.StoreOf(bob).Channel(ctx, cid)
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

// stop ends the server with SIGTERM, as an operator would before taking
// a copy of its DB.
func (s *loadServer) stop(tb testing.TB) {
	tb.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		tb.Logf("outpostd exited: %v", err)
	}
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestPosition_RestoreFromOlderCopy: a real outpostd is stopped and its DB
// copied; writes are made (an edit of m1 among them, a new channel, Bob's
// own message); the copy is put back (without -wal and -shm) while the
// clients hold writes they could not send; more writes are made, among
// them another edit of m1. Every client ends equal to the restored
// server, through per-channel resets, with its unsent writes delivered
// once. (Checked: without the server's EventID check, the clients keep
// the lost messages and the lost edit, and never see the newer one.)
func TestPosition_RestoreFromOlderCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs outpostd")
	}
	ctx := context.Background()
	dir := t.TempDir()
	srv := newLoadServer(t, dir)
	addr := srv.addr
	srv.start(t)
	running := true
	defer func() {
		if running {
			srv.kill()
		}
	}()
	url := "http://" + addr
	admin := benchREST(t, url, "alice") // Alice's writes made straight over REST
	send := func(cid, id, text string) {
		t.Helper()
		if _, err := admin.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: text}}); err != nil {
			t.Fatal(err)
		}
	}
	edit := func(id, text, key string) {
		t.Helper()
		if _, err := admin.UpdateMessage(ctx, id, protocol.UpdateMessageRequest{Text: text}, client.IdempotencyKey(key)); err != nil {
			t.Fatal(err)
		}
	}
	var cids []string
	for _, id := range []string{"general", "side"} {
		ch, err := admin.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: id, Members: []string{"bob"}})
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, ch.Channel.CID)
	}
	general, side := cids[0], cids[1]
	send(general, "m1", "m1 v1")
	send(general, "m2", "m2")
	send(side, "s1", "s1")

	alice := openAt(t, url, "alice", filepath.Join(dir, "alice.db"))
	bob := openAt(t, url, "bob", filepath.Join(dir, "bob.db"))
	syncNow(t, alice)
	syncNow(t, bob)

	// The backup.
	srv.stop(t)
	running = false
	if fi, err := os.Stat(srv.db + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("the WAL holds %d bytes after a clean stop: the copy would not be whole", fi.Size())
	}
	copyFile(t, srv.db, filepath.Join(dir, "backup.db"))
	srv.start(t)
	running = true

	// The window the restore loses.
	waitFor(t, "bob online again", func() bool { return outpost.ConnOf(bob).IsHealthy() })
	send(general, "m3", "lost with the window")
	edit("m1", "m1 v2, lost", "edit-lost")
	lost, err := admin.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "lost", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	send(lost.Channel.CID, "l1", "in a channel the restore loses")
	if _, err := bob.SendMessage(ctx, general, outpost.NewMessage{Text: "bob, in the lost window"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob to see the lost window", func() bool {
		syncNow(t, bob)
		st := bob.Status()
		return st.Pending == 0 && slices.Contains(channelCIDs(t, bob), lost.Channel.CID) &&
			slices.Contains(local(t, bob, general), "m1:m1 v2, lost:sent")
	})
	syncNow(t, alice)

	// The restore, with writes waiting in both outboxes meanwhile.
	srv.stop(t)
	running = false
	waitFor(t, "both offline", func() bool { return !outpost.ConnOf(bob).IsHealthy() && !outpost.ConnOf(alice).IsHealthy() })
	unsentBob, err := sentID(bob.SendMessage(ctx, general, outpost.NewMessage{Text: "bob, unsent during the restore"}))
	if err != nil {
		t.Fatal(err)
	}
	unsentAlice, err := sentID(alice.SendMessage(ctx, side, outpost.NewMessage{Text: "alice, unsent during the restore"}))
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(dir, "backup.db"), srv.db)
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(srv.db + ext); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	srv.start(t)
	running = true
	// After the restore: seqs the clients have seen are used again.
	edit("m1", "m1 v3, after the restore", "edit-after")
	send(general, "m4", "after the restore")
	send(side, "s2", "after the restore")

	for _, c := range []*outpost.Client{alice, bob} {
		waitFor(t, c.UserID()+" drained and synced", func() bool {
			if !outpost.ConnOf(c).IsHealthy() {
				return false
			}
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if c.SyncNow(sctx) != nil {
				return false
			}
			return c.Status().Pending == 0
		})
	}
	for _, c := range []*outpost.Client{alice, bob} {
		syncNow(t, c)
		if got, want := channelCIDs(t, c), []string{general, side}; !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", c.UserID(), got, want)
		}
		for _, cid := range cids {
			if got, srv := local(t, c, cid), onServer(t, c, cid); !slices.Equal(got, srv) {
				t.Errorf("%s, %s: store %v, server %v", c.UserID(), cid, got, srv)
			}
		}
		if failed, _ := c.FailedTasks(ctx); len(failed) != 0 {
			t.Errorf("%s: failed %+v", c.UserID(), failed)
		}
	}
	if m, err := outpost.StoreOf(bob).Message(ctx, "m1"); err != nil || m.Text != "m1 v3, after the restore" {
		t.Errorf("bob's m1 = %q, %v; want the edit made after the restore", m.Text, err)
	}
	for cid, id := range map[string]string{general: unsentBob, side: unsentAlice} {
		n := 0
		for _, m := range onServer(t, alice, cid) {
			if strings.HasPrefix(m, id+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: the unsent write %s is on the server %d times, want once", cid, id, n)
		}
	}
}

// TestPosition_UpgradeFromV1Store: a client DB made by release v1 (a
// synced channel, an offline write in the outbox; testdata/v1-client.go.txt
// made it) opens with this release and syncs: its channel is fetched
// afresh at a v2 position, and the v1 outbox is delivered once.
func TestPosition_UpgradeFromV1Store(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	if _, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "general", Members: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendMessage(ctx, "team:general", outpost.NewMessage{Text: "on the new server"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bob.db")
	copyFile(t, "testdata/v1-client.db", path)
	bob := openAt(t, ts.URL, "bob", path)
	syncNow(t, bob)
	waitFor(t, "bob's v1 outbox to drain", func() bool { st := bob.Status(); return st.Pending == 0 && !st.Syncing })
	syncNow(t, bob)

	if got, srv := local(t, bob, "team:general"), onServer(t, bob, "team:general"); !slices.Equal(got, srv) {
		t.Errorf("bob has %v, server %v", got, srv)
	}
	n := 0
	for _, m := range onServer(t, alice, "team:general") {
		if strings.HasPrefix(m, "m-offline-v1:written offline under v1") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the v1 outbox write is on the server %d times, want once", n)
	}
	pos, err := outpost.StoreOf(bob).SyncPositions(ctx)
	if err != nil || pos.Feed == nil || len(pos.Channels) != 1 || pos.Channels[0].Epoch == "" {
		t.Errorf("positions after the upgrade = %+v, %v; want a feed and a v2 position", pos, err)
	}
}
