package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/protocol"
)

// TestSend_WhileAnAppSyncs: an app has Bob's DB open and holds its sync
// lock, offline, with two writes waiting. The CLI's send is queued for the
// app and waits (--wait); once the app is online it sends all three, the
// CLI's after its own earlier ones, and the CLI says "sent".
func TestSend_WhileAnAppSyncs(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "shared", "bob")
	env := userEnv(t, url, "bob")
	ctx := context.Background()
	app, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: "bob", Token: mint(t, "bob"), DBPath: env["OUTPOST_DB"]})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	if !app.Sync.Status().Syncer {
		t.Fatal("the app does not hold the sync lock")
	}
	app.Conn.Disconnect()
	for _, id := range []string{"app-1", "app-2"} {
		if _, err := app.Sync.SendMessage(ctx, cid, protocol.MessageInput{ID: id, Text: id}); err != nil {
			t.Fatal(err)
		}
	}

	if r := cli(t, env, "status"); !strings.Contains(r.stdout, "synced by:") {
		t.Fatalf("status beside the app does not say another process syncs:\n%s", r.stdout)
	}

	done := make(chan result, 1)
	go func() { done <- cli(t, env, "send", cid, "from the cli", "--wait", "20s") }()
	// The CLI's write reaches the app's store (the app hears it) before
	// the app comes online, so it queues behind the app's two.
	waitFor(t, "the CLI's write in the outbox", func() bool {
		tasks, err := app.PendingTasks(ctx)
		return err == nil && len(tasks) == 3
	})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := app.Conn.Connect(cctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	wantOK(t, r)
	if !strings.Contains(r.stderr, "sent") {
		t.Fatalf("the CLI says %q, want sent", r.stderr)
	}
	cliID := strings.TrimSpace(r.stdout)
	ms := serverMessages(t, url, "alice", cid)
	slices.SortFunc(ms, func(a, b protocol.Message) int { return int(a.Seq - b.Seq) })
	var got []string
	for _, m := range ms {
		got = append(got, m.ID)
	}
	if want := []string{"app-1", "app-2", cliID}; !slices.Equal(got, want) {
		t.Fatalf("server order %v, want %v", got, want)
	}
	app.Close(ctx)
	if r := cli(t, env, "status"); strings.Contains(r.stdout, "synced by:") {
		t.Fatalf("status with no app says another process syncs:\n%s", r.stdout)
	}
}
