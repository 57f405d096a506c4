package outpost_test

import (
	"context"
	"errors"
	"testing"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// TestFacadeWrites drives every facade write offline, checks that they
// wait in the outbox in order, then reconnects and checks the server got
// them.
func TestFacadeWrites(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "facade"})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	kept, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "kept"}))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "gone"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}

	outpost.ConnOf(alice).Disconnect()
	waitFor(t, "offline", func() bool { return !alice.Status().Online })
	if err := alice.SyncNow(ctx); !errors.Is(err, syncmanager.ErrOffline) {
		t.Fatalf("SyncNow offline = %v, want ErrOffline", err)
	}
	steps := []func() error{
		func() error { _, err := alice.UpdateMessage(ctx, cid, kept, "kept, edited"); return err },
		func() error { _, err := alice.SendReaction(ctx, cid, kept, "like"); return err },
		func() error { _, err := alice.SendReaction(ctx, cid, kept, "wow"); return err },
		func() error { _, err := alice.DeleteReaction(ctx, cid, kept, "wow"); return err },
		func() error { _, err := alice.DeleteMessage(ctx, cid, gone, outpost.DeleteOptions{}); return err },
		func() error { _, err := alice.MarkRead(ctx, cid); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	pending, err := alice.PendingTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != len(steps) {
		t.Fatalf("pending = %d tasks, want %d", len(pending), len(steps))
	}
	// The snapshot's count is kept in step as writes queue and recounted
	// at the end of each cycle, so it settles rather than being exact at
	// every instant.
	waitFor(t, "status to count the outbox", func() bool { s := alice.Status(); return s.Pending == len(steps) && !s.Online })

	if err := outpost.ConnOf(alice).Connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "outbox drained", func() bool {
		p, _ := alice.PendingTasks(ctx)
		return len(p) == 0 && alice.Status().Synced
	})
	failed, err := alice.FailedTasks(ctx)
	if err != nil || len(failed) != 0 {
		t.Fatalf("failed = %v, %v", failed, err)
	}
	res, err := outpost.ConnOf(alice).QueryMessages(ctx, cid, client.MessagesQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]protocol.Message{}
	for _, m := range res.Messages {
		byID[m.ID] = m
	}
	if m := byID[kept]; m.Text != "kept, edited" || m.ReactionCounts["like"] != 1 || m.ReactionCounts["wow"] != 0 {
		t.Errorf("kept on server = %+v", m)
	}
	if m, ok := byID[gone]; ok && m.DeletedAt == nil {
		t.Errorf("gone on server is not deleted: %+v", m)
	}
	n, err := outpost.StoreOf(alice).UnreadCount(ctx, cid)
	if err != nil || n != 0 {
		t.Errorf("unread = %d, %v", n, err)
	}
}
