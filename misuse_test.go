package outpost_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
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
