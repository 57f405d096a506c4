package outpost_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// gate is an http.RoundTripper that holds write batches while closed, so
// a test can keep writes pending while the connection is up and events
// arrive.
type gate struct {
	mu   sync.Mutex
	open chan struct{} // closed when the gate is open; nil: open
}

func (g *gate) hold() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
	g.mu.Unlock()
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Path == protocol.PathBatch {
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		if open != nil {
			select {
			case <-open:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// openGated opens a client whose write batches pass through g.
func openGated(t *testing.T, url, user string, g *gate) *outpost.Client {
	t.Helper()
	tok, _ := token.Issue(secret, user, time.Hour)
	c, err := outpost.Open(context.Background(), outpost.Config{ServerURL: url, UserID: user, Token: tok,
		DBPath: filepath.Join(t.TempDir(), user+"-gated.db"), HTTPClient: &http.Client{Transport: g},
		ConnectTimeout: 3 * time.Second,
		Client:         client.Config{MinReconnectDelay: 5 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond},
		Sync:           offlineSync()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.release(); c.Close(context.Background()) })
	return c
}

// waitEvent returns a func that waits until c has applied a live event
// of type typ (its change was told, so the store has it).
func waitEvent(t *testing.T, c *outpost.Client, typ protocol.EventType) func() {
	got := make(chan struct{}, 100)
	unsub := c.OnChange(func(ch syncmanager.Change) {
		for _, ev := range ch.Events {
			if ev.Type == typ {
				got <- struct{}{}
			}
		}
	})
	return func() {
		t.Helper()
		defer unsub()
		select {
		case <-got:
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s applied", typ)
		}
	}
}

func hasReaction(t *testing.T, c *outpost.Client, messageID, user, typ string) bool {
	t.Helper()
	rs, err := outpost.StoreOf(c).Reactions(context.Background(), messageID)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(rs, func(r offlinedb.Reaction) bool { return r.UserID == user && r.Type == typ })
}

// TestRebase_PendingIntentsStay: while bob's unreact and edit wait in his
// outbox, events about the same rows arrive (his reaction from another
// device, alice's reaction to his message): his store keeps showing what
// he did last. Then the writes go through and the store equals the server.
func TestRebase_PendingIntentsStay(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "rebase", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	theirs, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "alice's"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	g := &gate{}
	bob := openGated(t, ts.URL, "bob", g)
	mine, err := sentID(bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "bob's first words"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	bob2 := open(t, ts.URL, "bob") // bob's other device

	g.hold()
	if _, err := bob.DeleteReaction(ctx, cid, theirs, "like"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.UpdateMessage(ctx, cid, mine, "bob's second thoughts"); err != nil {
		t.Fatal(err)
	}
	reacted := waitEvent(t, bob, protocol.EventReactionNew)
	if _, err := bob2.SendReaction(ctx, cid, theirs, "like"); err != nil {
		t.Fatal(err)
	}
	reacted()
	if hasReaction(t, bob, theirs, "bob", "like") {
		t.Error("bob's pending unreact shows as reacted after the event of his other device")
	}
	reacted = waitEvent(t, bob, protocol.EventReactionNew)
	if _, err := alice.SendReaction(ctx, cid, mine, "love"); err != nil {
		t.Fatal(err)
	}
	reacted()
	if m, err := outpost.StoreOf(bob).Message(ctx, mine); err != nil || m.Text != "bob's second thoughts" || m.Status != offlinedb.StatusPending {
		t.Errorf("bob's message with his edit pending = %+v, %v; want his new text, pending", m, err)
	}

	g.release()
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if hasReaction(t, bob, theirs, "bob", "like") {
		t.Error("bob's reaction is back after his unreact went through")
	}
	if m, _ := outpost.StoreOf(bob).Message(ctx, mine); m.Text != "bob's second thoughts" || m.Status != offlinedb.StatusSent {
		t.Errorf("bob's message after the drain = %q %s", m.Text, m.Status)
	}
	if got, want := local(t, bob, cid), onServer(t, bob, cid); !slices.Equal(got, want) {
		t.Errorf("bob's store %v, server %v", got, want)
	}
}

// TestRebase_RefusedEditRollsBack: alice's edit of bob's message is
// refused; her store shows bob's text again (not "hijack [failed]"), now
// and after later syncs, and the failed list keeps her edit. Retry sends
// it again (refused again); dismiss forgets it.
func TestRebase_RefusedEditRollsBack(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "hijack", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	bob := open(t, ts.URL, "bob")
	id, err := sentID(bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "original"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := alice.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.UpdateMessage(ctx, cid, id, "hijack"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := alice.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		if m, err := outpost.StoreOf(alice).Message(ctx, id); err != nil || m.Text != "original" || m.Status != offlinedb.StatusSent {
			t.Fatalf("alice's store after the refused edit: %+v, %v; want the original text, sent", m, err)
		}
	}
	failed, err := alice.FailedTasks(ctx)
	if err != nil || len(failed) != 1 || failed[0].Type != protocol.OpUpdateMessage {
		t.Fatalf("failed = %+v, %v; want the edit", failed, err)
	}

	// Retry: back in the outbox with its row, refused again.
	if err := alice.RetryFailed(ctx, failed[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := alice.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := alice.FailedTasks(ctx)
	if len(again) != 1 || again[0].MessageID != id {
		t.Fatalf("failed after the retry = %+v, want the edit again", again)
	}
	if m, _ := outpost.StoreOf(alice).Message(ctx, id); m.Text != "original" {
		t.Errorf("after the retry: %q", m.Text)
	}
	// Dismiss: off the list, the row stays the server's.
	if err := alice.DismissFailed(ctx, again[0].ID); err != nil {
		t.Fatal(err)
	}
	if f, _ := alice.FailedTasks(ctx); len(f) != 0 {
		t.Errorf("failed after dismiss = %+v", f)
	}
	if st := alice.Status(); st.Failed != 0 {
		t.Errorf("status.Failed = %d after dismiss", st.Failed)
	}
	if got, want := local(t, alice, cid), onServer(t, alice, cid); !slices.Equal(got, want) {
		t.Errorf("alice's store %v, server %v", got, want)
	}
}

// TestRebase_RetrySucceeds: a send refused (not a member) is retried after
// bob is added, and goes through; a dismissed refused send disappears.
func TestRebase_RetrySucceeds(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "later"})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	bob := open(t, ts.URL, "bob")
	keep, _ := sentID(bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "let me in"}))
	drop, _ := sentID(bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "never mind"}))
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	failed, _ := bob.FailedTasks(ctx)
	if len(failed) != 2 {
		t.Fatalf("failed = %+v, want both sends", failed)
	}
	if _, err := outpost.ConnOf(alice).AddMembers(ctx, cid, []string{"bob"}, client.IdempotencyKey("add-bob")); err != nil {
		t.Fatal(err)
	}
	if err := bob.RetryFailed(ctx, keep); err != nil {
		t.Fatal(err)
	}
	// Back in the outbox: pending, or already sent by a drain the retry
	// asked for (online, it may run at once); no longer failed.
	if m, err := outpost.StoreOf(bob).Message(ctx, keep); err != nil || m.Status == offlinedb.StatusFailed {
		t.Errorf("retried send = %+v, %v; want pending or sent", m, err)
	}
	if err := bob.DismissFailed(ctx, drop); err != nil {
		t.Fatal(err)
	}
	if _, err := outpost.StoreOf(bob).Message(ctx, drop); err == nil {
		t.Error("the dismissed send is still in the store")
	}
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := outpost.StoreOf(bob).Message(ctx, keep); err != nil || m.Status != offlinedb.StatusSent {
		t.Errorf("retried send after the drain = %+v, %v; want sent", m, err)
	}
	if f, _ := bob.FailedTasks(ctx); len(f) != 0 {
		t.Errorf("failed = %+v, want none", f)
	}
	if got, want := local(t, bob, cid), onServer(t, bob, cid); !slices.Equal(got, want) {
		t.Errorf("bob's store %v, server %v", got, want)
	}
}
