package outpost_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// TestChange_HandlerSeesStore: every change Bob's app hears of (a live
// message.new from Alice, his own write, the server's answer) is in his
// store when the listener runs: 0 of N early.
func TestChange_HandlerSeesStore(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "probe", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	bob := open(t, ts.URL, "bob")
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}

	const n = 200
	var mu sync.Mutex
	seen := map[string]bool{}
	var early []string
	calls := 0
	done := make(chan struct{})
	unsub := bob.OnChange(func(c syncmanager.Change) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		for _, id := range c.Messages {
			if _, err := outpost.StoreOf(bob).Message(ctx, id); errors.Is(err, offlinedb.ErrNotFound) {
				early = append(early, id)
			} else if err != nil {
				t.Error(err)
			}
		}
		for _, ev := range c.Events {
			if ev.Type != protocol.EventMessageNew {
				continue
			}
			if _, err := outpost.StoreOf(bob).Message(ctx, ev.Message.ID); err != nil {
				early = append(early, ev.Message.ID)
			}
			if !seen[ev.Message.ID] {
				seen[ev.Message.ID] = true
				if len(seen) == n {
					close(done)
				}
			}
		}
	})
	defer unsub()
	for i := range n {
		if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: fmt.Sprint("probe ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	own, err := sentID(bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "bob's own"}))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		mu.Lock()
		t.Fatalf("bob heard of %d of %d messages", len(seen), n)
	}
	waitFor(t, "bob's own write sent", func() bool {
		m, err := outpost.StoreOf(bob).Message(ctx, own)
		return err == nil && m.Status == offlinedb.StatusSent
	})
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Errorf("%d of %d changes came before the store had them: %v", len(early), n, early[:min(len(early), 5)])
	}
	t.Logf("%d messages in %d calls", n, calls)
}

// TestChange_CatchUpCoalesces: a catch-up of many events makes a few
// change calls, not one per event, and every message is in the store when
// its call runs.
func TestChange_CatchUpCoalesces(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "gap", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	bob := open(t, ts.URL, "bob")
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	outpost.ConnOf(bob).Disconnect()
	const n = 1500
	for i := range n {
		if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: fmt.Sprint("gap ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	calls, listed, many := 0, 0, false
	unsub := bob.OnChange(func(c syncmanager.Change) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		listed += len(c.Messages)
		many = many || c.Many
		for _, id := range c.Messages {
			if _, err := outpost.StoreOf(bob).Message(ctx, id); err != nil {
				t.Errorf("message %s told before it is in the store: %v", id, err)
			}
		}
	})
	defer unsub()
	if err := outpost.ConnOf(bob).Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	// The calls run on the dispatcher, after the commits.
	waitFor(t, "the changes of the catch-up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return many || listed >= n
	})
	mu.Lock()
	defer mu.Unlock()
	if calls > 50 {
		t.Errorf("%d change calls for %d events, want a few", calls, n)
	}
	t.Logf("%d events in %d calls (many: %v)", n, calls, many)
}
