package outpost_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// TestCallback_AfterOwnWrites: a post-sync callback scheduled right after
// a write runs only once that write is sent, online (a cycle already
// draining when the write was made does not count) and after an offline
// spell. Run with -count=200.
func TestCallback_AfterOwnWrites(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	c := open(t, ts.URL, "carol")
	ch, err := outpost.ConnOf(c).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "cb"})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	check := func(id string) chan string {
		got := make(chan string, 1)
		c.ScheduleSyncStatusChangeCallback("check-"+id, func(ctx context.Context) error {
			msg, err := outpost.StoreOf(c).Message(ctx, id)
			if err != nil {
				got <- err.Error()
				return err
			}
			got <- string(msg.Status)
			return nil
		})
		return got
	}
	wait := func(id string, got chan string) {
		t.Helper()
		select {
		case s := <-got:
			if s != string(offlinedb.StatusSent) {
				t.Fatalf("callback for %s ran with the message %s, want sent", id, s)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("callback for %s never ran", id)
		}
	}
	// Online, writes in quick succession: each write wakes the worker, so
	// the callback is often scheduled while a cycle is draining.
	// A goroutine keeps syncing meanwhile, so cycles start and end all the
	// time around the schedules.
	stop := make(chan struct{})
	syncing := make(chan struct{})
	go func() {
		defer close(syncing)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.SyncNow(ctx)
		}
	}()
	var ids []string
	var gots []chan string
	for i := range 20 {
		id, err := sentID(c.SendMessage(ctx, cid, outpost.NewMessage{Text: fmt.Sprint("online ", i)}))
		if err != nil {
			t.Fatal(err)
		}
		ids, gots = append(ids, id), append(gots, check(id))
	}
	for i := range ids {
		wait(ids[i], gots[i])
	}
	close(stop)
	<-syncing
	// Offline: the callback waits for the connection and the drain.
	outpost.ConnOf(c).Disconnect()
	id, err := sentID(c.SendMessage(ctx, cid, outpost.NewMessage{Text: "offline"}))
	if err != nil {
		t.Fatal(err)
	}
	got := check(id)
	if err := outpost.ConnOf(c).Connect(ctx); err != nil {
		t.Fatal(err)
	}
	wait(id, got)
}
