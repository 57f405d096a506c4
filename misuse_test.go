package outpost_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// TestClient_CallsAfterClose: every method of a closed Client returns
// ErrClosed at once, and a second Close returns the first one's result.
func TestClient_CallsAfterClose(t *testing.T) {
	ts := startServer(t)
	c := open(t, ts.URL, "alice")
	cid, err := c.CreateChannel(withTimeout(t, 10*time.Second), outpost.NewChannel{Type: "team", ID: "closing"})
	if err != nil {
		t.Fatal(err)
	}
	first := c.Close(context.Background())
	if err := c.Close(context.Background()); err != first {
		t.Errorf("second Close = %v, want the first's %v", err, first)
	}

	// A ctx with no deadline: a call that waited for anything would hang
	// the test instead of failing it fast.
	ctx := context.Background()
	write := func(w outpost.Write, err error) error { return err }
	calls := map[string]func() error{
		"SendMessage":    func() error { return write(c.SendMessage(ctx, cid, outpost.NewMessage{Text: "late"})) },
		"UpdateMessage":  func() error { return write(c.UpdateMessage(ctx, cid, "m1", "late")) },
		"DeleteMessage":  func() error { return write(c.DeleteMessage(ctx, cid, "m1", outpost.DeleteOptions{})) },
		"SendReaction":   func() error { return write(c.SendReaction(ctx, cid, "m1", "like")) },
		"DeleteReaction": func() error { return write(c.DeleteReaction(ctx, cid, "m1", "like")) },
		"MarkRead":       func() error { return write(c.MarkRead(ctx, cid)) },
		"RetryFailed":    func() error { return c.RetryFailed(ctx, "t1") },
		"DismissFailed":  func() error { return c.DismissFailed(ctx, "t1") },
		"PendingTasks":   func() error { _, err := c.PendingTasks(ctx); return err },
		"FailedTasks":    func() error { _, err := c.FailedTasks(ctx); return err },
		"Messages":       func() error { _, err := c.Messages(ctx, cid, offlinedb.MessagesQuery{}); return err },
		"Message":        func() error { _, err := c.Message(ctx, "m1"); return err },
		"Channels":       func() error { _, _, err := c.Channels(ctx, offlinedb.ChannelsQuery{}); return err },
		"Channel":        func() error { _, err := c.Channel(ctx, cid); return err },
		"Members":        func() error { _, err := c.Members(ctx, cid); return err },
		"Reactions":      func() error { _, err := c.Reactions(ctx, "m1"); return err },
		"Reads":          func() error { _, err := c.Reads(ctx, cid); return err },
		"UnreadCount":    func() error { _, err := c.UnreadCount(ctx, cid); return err },
		"User":           func() error { _, err := c.User(ctx, "alice"); return err },
		"SyncNow":        func() error { return c.SyncNow(ctx) },
		"WaitSynced":     func() error { return c.WaitSynced(ctx) },
		"WaitForFirstSync": func() error {
			return c.WaitForFirstSync(ctx)
		},
		"Connect":       func() error { return c.Connect(ctx) },
		"Disconnect":    func() error { return c.Disconnect(ctx) },
		"CreateChannel": func() error { _, err := c.CreateChannel(ctx, outpost.NewChannel{}); return err },
		"AddMembers":    func() error { return c.AddMembers(ctx, cid, "bob") },
		"RemoveMembers": func() error { return c.RemoveMembers(ctx, cid, "bob") },
		"LeaveChannel":  func() error { return c.LeaveChannel(ctx, cid) },
		"HideChannel":   func() error { return c.HideChannel(ctx, cid) },
		"ShowChannel":   func() error { return c.ShowChannel(ctx, cid) },
		"UpdateChannel": func() error { return c.UpdateChannel(ctx, cid, outpost.ChannelUpdate{Name: "x"}) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- call() }()
			select {
			case err := <-done:
				if !errors.Is(err, outpost.ErrClosed) {
					t.Errorf("%s after Close = %v, want ErrClosed", name, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s after Close did not return", name)
			}
		})
	}
}

// TestClient_CloseBoundedByCtx: a final drain the server holds ends with
// Close's ctx, Close returns within its deadline plus StopTimeout, and
// nothing of the Client keeps running.
func TestClient_CloseBoundedByCtx(t *testing.T) {
	ts, gate := startGatedServer(t, protocol.PathBatch)
	before := goleak.IgnoreCurrent()
	c := open(t, ts.URL, "alice")
	cid, err := c.CreateChannel(withTimeout(t, 10*time.Second), outpost.NewChannel{Type: "team", ID: "held"})
	if err != nil {
		t.Fatal(err)
	}
	release := gate.holdRequests(t)
	if _, err := c.SendMessage(context.Background(), cid, outpost.NewMessage{Text: "held at the server"}); err != nil {
		t.Fatal(err)
	}
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	c.Close(ctx)
	if took, max := time.Since(start), deadline+outpost.StopTimeout; took > max {
		t.Errorf("Close took %v, want at most %v", took, max)
	}
	// The gate's handler does not read the request's body, so it does
	// not see the client go: let it end before counting.
	release()
	goleak.VerifyNone(t, before)
}

// TestClient_Misuse: what Go libraries usually guard against ends without
// a panic or a hang.
func TestClient_Misuse(t *testing.T) {
	t.Run("ListenerCallsClose", func(t *testing.T) {
		ts := startServer(t)
		c := open(t, ts.URL, "alice")
		closed := make(chan error, 1)
		var once sync.Once
		c.OnStatus(func(syncmanager.Status) {
			once.Do(func() { closed <- c.Close(context.Background()) })
		})
		go c.SyncNow(context.Background()) // a status change to hear
		select {
		case <-closed:
		case <-time.After(outpost.FinalDrainTimeout + outpost.StopTimeout):
			t.Fatal("Close from a listener did not return")
		}
		if err := c.SyncNow(context.Background()); !errors.Is(err, outpost.ErrClosed) {
			t.Errorf("SyncNow after a listener's Close = %v, want ErrClosed", err)
		}
	})
	t.Run("CloseDuringConnect", func(t *testing.T) {
		// A server that is gone: Connect keeps trying until Close.
		ts := startServer(t)
		url := ts.URL
		ts.Close()
		c := openWith(t, url, "alice", func(cfg *outpost.Config) { cfg.ConnectTimeout = 0 })
		connected := make(chan error, 1)
		go func() { connected <- c.Connect(context.Background()) }()
		time.AfterFunc(50*time.Millisecond, func() { c.Close(context.Background()) })
		select {
		case <-connected:
		case <-time.After(outpost.FinalDrainTimeout + outpost.StopTimeout):
			t.Fatal("Connect did not return after Close")
		}
	})
	t.Run("ConcurrentClose", func(t *testing.T) {
		ts := startServer(t)
		c := open(t, ts.URL, "alice")
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = c.Close(context.Background()) }()
		}
		wg.Wait()
		for _, err := range errs[1:] {
			if err != errs[0] {
				t.Errorf("concurrent Close results differ: %v", errs)
			}
		}
	})
}

// TestOpen_DoesNotWaitForTheNetwork: Open returns a working, offline
// Client while the server cannot answer (every byte to and from it held
// back), and the Client sends what was written meanwhile once it can.
func TestOpen_DoesNotWaitForTheNetwork(t *testing.T) {
	ts := startServer(t)
	proxy := proxyTo(t, ts.URL)
	proxy.Stall()
	tok, _ := token.Issue(secret, "alice", time.Hour)
	type opened struct {
		c   *outpost.Client
		err error
	}
	done := make(chan opened, 1)
	go func() {
		c, err := outpost.Open(context.Background(), outpost.Config{ServerURL: proxy.URL(), UserID: "alice", Token: tok,
			DBPath: filepath.Join(t.TempDir(), "alice.db")})
		done <- opened{c, err}
	}()
	var c *outpost.Client
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatal(o.err)
		}
		c = o.c
	case <-time.After(30 * time.Second):
		// A wait for the network would last until the server answers.
		proxy.Heal()
		if o := <-done; o.c != nil {
			o.c.Close(context.Background())
		}
		t.Fatal("Open waited for a server that could not answer")
	}
	defer c.Close(context.Background())
	if c.Status().Online {
		t.Fatal("online through a stalled connection")
	}
	cid, err := c.CreateChannel(withTimeout(t, 100*time.Millisecond), outpost.NewChannel{Type: "team", ID: "later"})
	if err == nil {
		t.Fatalf("CreateChannel through a stalled connection = %s, want an error", cid)
	}
	if _, err := c.SendMessage(context.Background(), "team:a", outpost.NewMessage{Text: "offline"}); err != nil {
		t.Fatalf("SendMessage offline = %v", err)
	}
	proxy.Heal()
	proxy.Cut() // the stalled attempts give way to new ones
	waitFor(t, "the offline write sent", func() bool { st := c.Status(); return st.Online && st.Pending == 0 })
}

// TestOpen_ConfigErrors: a zero or partial Config gets a *ConfigError
// naming the field, and nothing is created.
func TestOpen_ConfigErrors(t *testing.T) {
	full := outpost.Config{ServerURL: "http://127.0.0.1:1", UserID: "alice", Token: "t",
		DBPath: filepath.Join(t.TempDir(), "alice.db")}
	for _, tt := range []struct {
		field string
		edit  func(*outpost.Config)
	}{
		{"ServerURL", func(c *outpost.Config) { *c = outpost.Config{} }},
		{"UserID", func(c *outpost.Config) { c.UserID = "" }},
		{"Token", func(c *outpost.Config) { c.Token = "" }},
		{"DBPath", func(c *outpost.Config) { c.DBPath = "" }},
	} {
		cfg := full
		tt.edit(&cfg)
		c, err := outpost.Open(context.Background(), cfg)
		var ce *outpost.ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field {
			t.Errorf("Open without %s = %v, want a *ConfigError for it", tt.field, err)
		}
		if c != nil {
			c.Close(context.Background())
		}
	}
	if _, err := os.Stat(full.DBPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused config created the store: %v", err)
	}
}
