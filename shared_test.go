package outpost_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// heard collects the message ids a client's change listener hears.
type heard struct {
	mu  sync.Mutex
	ids map[string]bool
}

func listen(c *outpost.Client) *heard {
	h := &heard{ids: map[string]bool{}}
	c.OnChange(func(ch syncmanager.Change) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, id := range ch.Messages {
			h.ids[id] = true
		}
		for _, k := range ch.Records {
			h.ids[recordHeard(k.Collection, k.ID)] = true
		}
	})
	return h
}

// recordHeard is the id under which heard keeps a record it heard of.
func recordHeard(collection, id string) string { return "record " + collection + "/" + id }

func (h *heard) has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ids[id]
}

// TestSharedStore: two clients open one store (as two processes would:
// the sync lock is per open file). The first syncs; the second's writes
// are sent by the first, in order, and each hears the other's writes.
// When the first closes, the second takes over within two seconds.
func TestSharedStore(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "shared", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	path := filepath.Join(t.TempDir(), "bob.db")
	first := openAt(t, ts.URL, "bob", path)
	second := openAt(t, ts.URL, "bob", path)
	if !first.Status().Syncer || second.Status().Syncer {
		t.Fatalf("syncer: first %v second %v, want only the first", first.Status().Syncer, second.Status().Syncer)
	}
	if err := second.SyncNow(ctx); !errors.Is(err, syncmanager.ErrNotSyncer) {
		t.Fatalf("SyncNow of the second: %v, want ErrNotSyncer", err)
	}
	hFirst, hSecond := listen(first), listen(second)

	outpost.ConnOf(first).Disconnect() // the first's writes wait, then the second's
	for _, c := range []struct {
		cl *outpost.Client
		id string
	}{{first, "f1"}, {second, "s1"}, {first, "f2"}, {second, "s2"}} {
		if _, err := c.cl.SendMessage(ctx, cid, outpost.NewMessage{ID: c.id, Text: c.id}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "each to hear the other's writes", func() bool {
		return hFirst.has("s1") && hFirst.has("s2") && hSecond.has("f1") && hSecond.has("f2")
	})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := first.Connect(cctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the writes on the server", func() bool { return len(onServer(t, alice, cid)) == 4 })
	if got, want := serverOrder(t, alice, cid), []string{"f1", "s1", "f2", "s2"}; !slices.Equal(got, want) {
		t.Fatalf("server order %v, want %v", got, want)
	}

	// The first goes; the second takes over and sends its own writes.
	first.Close(ctx)
	start := time.Now()
	waitFor(t, "the second to take over", func() bool { return second.Status().Syncer })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("takeover took %v, want under 2s", d)
	}
	if _, err := second.SendMessage(ctx, cid, outpost.NewMessage{ID: "s3", Text: "s3"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second's write on the server", func() bool { return len(onServer(t, alice, cid)) == 5 })
}

// TestSharedStore_Records: a record written by one client of a shared
// store is heard, by collection and id, by the other.
func TestSharedStore_Records(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	path := filepath.Join(t.TempDir(), "bob.db")
	first := openAt(t, ts.URL, "bob", path)
	second := openAt(t, ts.URL, "bob", path)
	outpost.ConnOf(first).Disconnect() // the write stays in the outbox
	hFirst := listen(first)
	tasks, err := outpost.OpenCollection[struct {
		Title string `json:"title"`
	}](ctx, second, "tasks", outpost.CollectionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Create(ctx, "list:house", "t1", struct {
		Title string `json:"title"`
	}{"milk"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first to hear the second's record", func() bool { return hFirst.has(recordHeard("tasks", "t1")) })
}

// serverOrder returns the ids of a channel's messages in the server's log
// order.
func serverOrder(tb testing.TB, c *outpost.Client, cid string) []string {
	tb.Helper()
	resp, err := outpost.ConnOf(c).QueryMessages(context.Background(), cid, client.MessagesQuery{Limit: 200})
	if err != nil {
		tb.Fatal(err)
	}
	ms := resp.Messages
	slices.SortFunc(ms, func(a, b protocol.Message) int { return int(a.Seq - b.Seq) })
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}
