package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/internal/access"
	"github.com/outpostsync/outpost/protocol"
)

// TestSend_WhileAnAppSyncs: an app has Bob's DB open and holds its sync
// lock, offline, with two writes waiting. A CLI send is queued for the app
// and not sent by the CLI; a second one waits (--wait) until the app,
// online again, has sent all four, the CLI's after the app's earlier
// ones, and says "sent". status says the app syncs the DB.
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
	if !app.Status().Syncer {
		t.Fatal("the app does not hold the sync lock")
	}
	access.Conn(app).Disconnect()
	for _, id := range []string{"app-1", "app-2"} {
		if _, err := app.SendMessage(ctx, cid, outpost.NewMessage{ID: id, Text: id}); err != nil {
			t.Fatal(err)
		}
	}

	if r := cli(t, env, "status"); !strings.Contains(r.stdout, "synced by:") {
		t.Fatalf("status beside the app does not say another process syncs:\n%s", r.stdout)
	}

	// Offline app: the CLI's write is queued for it, and not sent by
	// the CLI, which gives up waiting after --wait.
	r := cli(t, env, "send", cid, "first from the cli", "--wait", "300ms")
	wantOK(t, r)
	if !strings.Contains(r.stderr, "queued for the process that syncs") {
		t.Fatalf("the CLI says %q, want queued for the process that syncs", r.stderr)
	}
	cli1 := strings.TrimSpace(r.stdout)
	if ms := serverMessages(t, url, "alice", cid); len(ms) != 0 {
		t.Fatalf("the server has %d messages while the app that syncs is offline", len(ms))
	}

	// The app comes online while a second CLI write waits: the app sends
	// all four, in order, and the CLI says "sent".
	done := make(chan result, 1)
	go func() { done <- cli(t, env, "send", cid, "second from the cli", "--wait", "20s") }()
	waitFor(t, "the CLI's second write in the outbox", func() bool {
		tasks, err := app.PendingTasks(ctx)
		return err == nil && len(tasks) == 4
	})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := app.Connect(cctx); err != nil {
		t.Fatal(err)
	}
	r = <-done
	wantOK(t, r)
	if !strings.Contains(r.stderr, "sent") {
		t.Fatalf("the CLI says %q, want sent", r.stderr)
	}
	cli2 := strings.TrimSpace(r.stdout)
	ms := serverMessages(t, url, "alice", cid)
	slices.SortFunc(ms, func(a, b protocol.Message) int { return int(a.Seq - b.Seq) })
	var got []string
	for _, m := range ms {
		got = append(got, m.ID)
	}
	if want := []string{"app-1", "app-2", cli1, cli2}; !slices.Equal(got, want) {
		t.Fatalf("server order %v, want %v", got, want)
	}
	app.Close(ctx)
	if r := cli(t, env, "status"); strings.Contains(r.stdout, "synced by:") {
		t.Fatalf("status with no app says another process syncs:\n%s", r.stdout)
	}
}
