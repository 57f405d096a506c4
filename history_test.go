package outpost_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/syncmanager"
)

// historyGate wraps a server's handler: it counts the history pages and
// channel queries asked for, and holds the history requests after the
// first pass ones until it is opened.
type historyGate struct {
	pass    int32
	opened  chan struct{}
	history atomic.Int32
	queries atomic.Int32
}

func newHistoryGate(pass int32) *historyGate {
	return &historyGate{pass: pass, opened: make(chan struct{})}
}

func (g *historyGate) open() {
	select {
	case <-g.opened:
	default:
		close(g.opened)
	}
}

func (g *historyGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/history"):
			if g.history.Add(1) > g.pass {
				select {
				case <-g.opened:
				case <-r.Context().Done():
					return
				}
			}
		case r.URL.Path == protocol.PathQueryChannels:
			g.queries.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// gatedServer starts a server whose history requests go through a gate
// letting pass of them by (all, when the gate is opened).
func gatedServer(tb testing.TB, pass int32) (string, *sqlitestore.Store, *historyGate) {
	tb.Helper()
	g := newHistoryGate(pass)
	ts, st := storeServer(tb, g.wrap)
	tb.Cleanup(g.open) // runs before the server's close
	return ts.URL, st, g
}

// bigChannel makes a channel of alice's with bob a member, holding n
// messages by alice written straight into the server's store (ids
// m000000000 on, in seq order), and returns its cid with alice's REST
// client.
func bigChannel(tb testing.TB, url string, st *sqlitestore.Store, n int) (string, *client.Client) {
	tb.Helper()
	alice := benchREST(tb, url, "alice")
	cid := benchChannelsFor(tb, alice, "big", 1)[0]
	insertGap(tb, st, []string{cid}, 0, n)
	return cid, alice
}

func msgID(i int) string { return fmt.Sprintf("m%09d", i) }

// msgIDs returns the ids of the first n messages of bigChannel, in order.
func msgIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = msgID(i)
	}
	return ids
}

// heldIDs returns the ids of the server messages c's store holds in cid,
// in the channel's order.
func heldIDs(tb testing.TB, c *outpost.Client, cid string) []string {
	tb.Helper()
	rows, err := outpost.StoreOf(c).SQLDB().Query(`SELECT id FROM messages WHERE cid = ? AND status = 'sent' ORDER BY seq, id`, cid)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// serverIDs returns the ids of the server's messages of cid, in order.
func serverIDs(tb testing.TB, st server.Store, cid string) []string {
	tb.Helper()
	var ids []string
	err := st.View(context.Background(), func(tx server.Tx) error {
		ms, err := tx.Messages(cid, server.MessagesPage{Limit: 1 << 30})
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// serverHead returns the seq at the head of cid's log.
func serverHead(tb testing.TB, st server.Store, cid string) int64 {
	tb.Helper()
	var head int64
	err := st.View(context.Background(), func(tx server.Tx) error {
		log, err := tx.ChannelLog(cid)
		head = log.LastSeq
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return head
}

func heldRange(tb testing.TB, c *outpost.Client, cid string) (from, to, until int64, complete bool) {
	tb.Helper()
	h, err := outpost.StoreOf(c).HeldHistory(context.Background(), cid)
	if err != nil {
		tb.Fatal(err)
	}
	return h.From, h.To, h.Until, h.Complete()
}

func TestHistory_FullFirstSync(t *testing.T) {
	const n = 10000
	url, st, gate := gatedServer(t, 0)
	cid, _ := bigChannel(t, url, st, n)

	heap := startHeapSampler(time.Millisecond)
	bob := openWith(t, url, "bob", func(cfg *outpost.Config) { cfg.ConnectTimeout = -1 })
	// The channel's state brings the newest messages before any page of
	// older history (the gate holds those).
	waitFor(t, "the newest messages", func() bool { return len(heldIDs(t, bob, cid)) >= 50 })
	want := msgIDs(n)
	if got := heldIDs(t, bob, cid); !slices.Equal(got, want[n-50:]) {
		t.Fatalf("before the history: held %d messages %v..., want the newest 50", len(got), got[:1])
	}
	if _, _, _, complete := heldRange(t, bob, cid); complete {
		t.Fatal("the newest 50 say they are the whole history")
	}
	gate.open()
	waitForWithin(t, time.Minute, "the whole history", func() bool { _, _, _, c := heldRange(t, bob, cid); return c })
	peak := heap.Stop()
	if got := heldIDs(t, bob, cid); !slices.Equal(got, want) {
		t.Fatalf("held %d messages, want all %d in seq order", len(got), n)
	}
	// Server and client share this process: the bound holds both.
	if peak > 64<<20 {
		t.Errorf("peak heap %d MB, want at most 64", peak>>20)
	}
}

func TestHistory_RecentThenLoadOlder(t *testing.T) {
	const n = 10000
	url, st, _ := gatedServer(t, 1<<30)
	cid, _ := bigChannel(t, url, st, n)
	ctx := context.Background()

	bob := openWith(t, url, "bob", func(cfg *outpost.Config) { cfg.Sync.History = syncmanager.HistoryRecent(50) })
	if err := bob.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heldIDs(t, bob, cid); len(got) != 50 {
		t.Fatalf("Recent(50) holds %d messages, want 50", len(got))
	}

	if err := bob.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "offline", func() bool { return !bob.Status().Online })
	msgs, err := bob.LoadOlder(ctx, cid, 100)
	if !errors.Is(err, outpost.ErrNeedsNetwork) {
		t.Fatalf("offline LoadOlder: err = %v, want ErrNeedsNetwork", err)
	}
	if len(msgs) != 50 || msgs[0].ID != msgID(n-50) {
		t.Fatalf("offline LoadOlder returned %d messages, want the 50 held", len(msgs))
	}

	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "online", func() bool { return bob.Status().Online })
	seen := map[string]bool{}
	for calls := 0; ; calls++ {
		if calls > 2*n/700 {
			t.Fatalf("LoadOlder has not reached the start after %d calls", calls)
		}
		msgs, err := bob.LoadOlder(ctx, cid, 700)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if seen[m.ID] {
				t.Fatalf("LoadOlder returned %s twice", m.ID)
			}
			seen[m.ID] = true
		}
	}
	if len(seen) != n-50 {
		t.Errorf("LoadOlder returned %d messages, want %d", len(seen), n-50)
	}
	want := msgIDs(n)
	if got := heldIDs(t, bob, cid); !slices.Equal(got, want) {
		t.Fatalf("held %d messages, want all %d in seq order, once each", len(got), n)
	}
	if _, _, _, complete := heldRange(t, bob, cid); !complete {
		t.Error("the history reached its start but does not say so")
	}
}

func TestHistory_AdminCallsKeepTheCache(t *testing.T) {
	const n = 1000
	url, st, _ := gatedServer(t, 1<<30)
	cid, _ := bigChannel(t, url, st, n)
	ctx := context.Background()
	alice := open(t, url, "alice")
	if err := alice.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	waitForWithin(t, time.Minute, "the whole history", func() bool { return len(heldIDs(t, alice, cid)) == n })
	calls := []struct {
		name string
		call func() error
	}{
		{"hide", func() error { return alice.HideChannel(ctx, cid) }},
		{"show", func() error { return alice.ShowChannel(ctx, cid) }},
		{"update", func() error { return alice.UpdateChannel(ctx, cid, outpost.ChannelUpdate{Name: "renamed"}) }},
		{"add members", func() error { return alice.AddMembers(ctx, cid, "carol") }},
		{"remove members", func() error { return alice.RemoveMembers(ctx, cid, "carol") }},
		{"set role", func() error {
			_, err := outpost.ConnOf(alice).SetRole(ctx, cid, "bob", protocol.RoleModerator, client.IdempotencyKey("role-1"))
			if err == nil {
				err = alice.SyncNow(ctx)
			}
			return err
		}},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := len(heldIDs(t, alice, cid)); got != n {
			t.Errorf("after %s: %d messages cached, want %d", c.name, got, n)
		}
		if _, _, _, complete := heldRange(t, alice, cid); !complete {
			t.Errorf("after %s: the held history no longer reaches the start", c.name)
		}
	}
}

func TestHistory_StaleStateChangesNothingNewer(t *testing.T) {
	url, st, _ := gatedServer(t, 1<<30)
	cid, _ := bigChannel(t, url, st, 60)
	ctx := context.Background()
	alice := open(t, url, "alice")
	if err := alice.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	stale, err := outpost.ConnOf(alice).GetChannel(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	bob := benchREST(t, url, "bob")
	if _, err := bob.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "newer", Text: "after the state"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the live message", func() bool { return slices.Contains(heldIDs(t, alice, cid), "newer") })
	_, before, _, _ := heldRange(t, alice, cid)
	held := heldIDs(t, alice, cid)

	if err := outpost.StoreOf(alice).ApplyChannelStates(ctx, []protocol.ChannelResponse{*stale}, nil); err != nil {
		t.Fatal(err)
	}
	if _, after, _, _ := heldRange(t, alice, cid); after != before {
		t.Errorf("position %d after the stale state, want %d", after, before)
	}
	if got := heldIDs(t, alice, cid); !slices.Equal(got, held) {
		t.Errorf("after the stale state: %d messages held (newer: %v), want %d", len(got), slices.Contains(got, "newer"), len(held))
	}
}

func TestHistory_FullFetchMeetsPruneDeleteAndSends(t *testing.T) {
	const n = 3000
	url, st, gate := gatedServer(t, 1)
	cid, alice := bigChannel(t, url, st, n)
	ctx := context.Background()

	bob := openWith(t, url, "bob", func(cfg *outpost.Config) { cfg.ConnectTimeout = -1 })
	waitFor(t, "the fetch held after its first page", func() bool { return gate.history.Load() >= 2 })
	for i := range 5 {
		id := fmt.Sprintf("during-%d", i)
		if _, err := alice.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: id}}); err != nil {
			t.Fatal(err)
		}
	}
	// One hard delete in the part fetched already, one in the part to come.
	for _, id := range []string{msgID(n - 10), msgID(10)} {
		if _, err := alice.DeleteMessage(ctx, id, protocol.DeleteMessageBody{Hard: true}, client.IdempotencyKey("del-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	head := serverHead(t, st, cid)
	waitFor(t, "bob's live position at the head", func() bool { _, to, _, _ := heldRange(t, bob, cid); return to == head })
	if _, err := st.Prune(ctx, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	gate.open()
	waitForWithin(t, time.Minute, "the whole history", func() bool { _, _, _, c := heldRange(t, bob, cid); return c })
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := heldIDs(t, bob, cid), serverIDs(t, st, cid); !slices.Equal(got, want) {
		t.Errorf("held %d messages, the server has %d", len(got), len(want))
	}
	if q := gate.queries.Load(); q != 1 {
		t.Errorf("the channel's state was fetched %d times, want once: the fetch restarted", q)
	}
}

func TestHistory_ResetRechecksTheHeldRange(t *testing.T) {
	const n = 2000
	url, st, _ := gatedServer(t, 1<<30)
	cid, alice := bigChannel(t, url, st, n)
	ctx := context.Background()

	bob := open(t, url, "bob")
	waitForWithin(t, time.Minute, "the whole history", func() bool { _, _, _, c := heldRange(t, bob, cid); return c })
	if err := bob.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "offline", func() bool { return !bob.Status().Online })
	// While bob is away: deletes inside his held range (old and newest),
	// a new message, and a prune that cuts his position from the log.
	for _, id := range []string{msgID(5), msgID(1000), msgID(n - 3)} {
		if _, err := alice.DeleteMessage(ctx, id, protocol.DeleteMessageBody{Hard: true}, client.IdempotencyKey("del-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "while-away", Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Prune(ctx, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "online", func() bool { return bob.Status().Online })
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, until, complete := heldRange(t, bob, cid)
	if until != 0 || !complete {
		t.Fatalf("after the reset: re-check down to %d, complete %v; want done", until, complete)
	}
	got, want := heldIDs(t, bob, cid), serverIDs(t, st, cid)
	if !slices.Equal(got, want) {
		t.Fatalf("held %d messages, the server has %d", len(got), len(want))
	}
	if len(want) != n-3+1 {
		t.Fatalf("the server has %d messages, want %d", len(want), n-3+1)
	}
}
