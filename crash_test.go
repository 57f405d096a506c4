package outpost_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// TestCrashChild is the child process of TestCrash: it opens Bob's store
// offline, queues a few sends, connects, drains and syncs, until it is
// killed or done.
func TestCrashChild(t *testing.T) {
	url, db, trial := os.Getenv("OUTPOST_CRASH_URL"), os.Getenv("OUTPOST_CRASH_DB"), os.Getenv("OUTPOST_CRASH_TRIAL")
	if url == "" {
		t.Skip("run by TestCrash")
	}
	ctx := context.Background()
	tok, _ := token.Issue(secret, "bob", time.Hour)
	c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: "bob", Token: tok, DBPath: db, Sync: syncmanager.Options{PageSize: 25}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	outpost.ConnOf(c).Disconnect()
	for i := 0; i < 5; i++ {
		if _, err := outpost.ManagerOf(c).SendMessage(ctx, "team:crash", protocol.MessageInput{ID: fmt.Sprintf("bob-%s-%d", trial, i), Text: "offline"}); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := outpost.ConnOf(c).Connect(cctx); err != nil {
		t.Fatal(err)
	}
	if err := outpost.ManagerOf(c).SyncNow(cctx); err != nil {
		t.Fatal(err)
	}
}

// TestCrash kills a process running the SDK with SIGKILL at random moments
// while it drains its outbox and applies a large sync gap page by page.
// After every kill the store passes integrity_check; at the end every
// write exists exactly once on the server, nothing is pending, and the
// store equals the server.
func TestCrash(t *testing.T) {
	if os.Getenv("OUTPOST_CRASH_URL") != "" {
		t.Skip("child")
	}
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "crash", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID

	// Bob syncs once, then writes offline.
	dbPath := filepath.Join(t.TempDir(), "bob.db")
	tok, _ := token.Issue(secret, "bob", time.Hour)
	bob, err := outpost.Open(ctx, outpost.Config{ServerURL: ts.URL, UserID: "bob", Token: tok, DBPath: dbPath, ConnectTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	outpost.ConnOf(bob).Disconnect()
	const sends = 30
	for i := 0; i < sends; i++ {
		if _, err := outpost.ManagerOf(bob).SendMessage(ctx, cid, protocol.MessageInput{ID: fmt.Sprintf("bob-%02d", i), Text: "offline " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	bob.Close(context.Background())

	// Meanwhile Alice writes a gap of many pages.
	for i := 0; i < 400; i++ {
		if _, err := outpost.ConnOf(alice).SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: fmt.Sprintf("alice-%03d", i), Text: "gap"}}); err != nil {
			t.Fatal(err)
		}
	}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	trials := 8
	if s := os.Getenv("OUTPOST_CRASH_TRIALS"); s != "" {
		trials, _ = strconv.Atoi(s)
	}
	killed := 0
	for trial := 0; trial < trials; trial++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		// A fresh gap each trial, so a kill can land mid-sync.
		for i := 0; i < 120; i++ {
			if _, err := outpost.ConnOf(alice).SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: fmt.Sprintf("alice-%d-%03d", trial, i), Text: "gap"}}); err != nil {
				t.Fatal(err)
			}
		}
		cmd.Env = append(os.Environ(), "OUTPOST_CRASH_URL="+ts.URL, "OUTPOST_CRASH_DB="+dbPath, "OUTPOST_CRASH_TRIAL="+strconv.Itoa(trial))
		if os.Getenv("OUTPOST_CRASH_DEBUG") != "" {
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done: // finished before the kill
			if err != nil {
				t.Fatalf("seed %d trial %d: the child failed: %v", seed, trial, err)
			}
		case <-time.After(time.Duration(rng.IntN(250)) * time.Millisecond):
			cmd.Process.Kill()
			<-done
			killed++
		}
		db, err := store.Open(ctx, dbPath, offlinedb.Options{})
		if err != nil {
			t.Fatalf("seed %d trial %d: store unusable after SIGKILL: %v", seed, trial, err)
		}
		if err := db.IntegrityCheck(ctx); err != nil {
			t.Fatalf("seed %d trial %d: %v", seed, trial, err)
		}
		db.Close()
	}

	t.Logf("%d of %d runs killed mid-way", killed, trials)

	// Recover for good and compare.
	bob, err = outpost.Open(ctx, outpost.Config{ServerURL: ts.URL, UserID: "bob", Token: tok, DBPath: dbPath, ConnectTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close(context.Background())
	if err := outpost.ManagerOf(bob).SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if st := outpost.ManagerOf(bob).Status(); st.Pending != 0 || st.Failed != 0 {
		t.Fatalf("seed %d: after recovery pending %d failed %d", seed, st.Pending, st.Failed)
	}
	server := map[string]int{}
	before := ""
	for {
		resp, err := outpost.ConnOf(alice).QueryMessages(ctx, cid, client.MessagesQuery{Limit: 200, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.Messages {
			server[m.ID]++
		}
		if len(resp.Messages) < 200 {
			break
		}
		before = resp.Messages[0].ID
	}
	for i := 0; i < sends; i++ {
		if n := server[fmt.Sprintf("bob-%02d", i)]; n != 1 {
			t.Errorf("seed %d: bob-%02d is on the server %d times, want once", seed, i, n)
		}
	}
	local, err := outpost.StoreOf(bob).Messages(ctx, cid, offlinedb.MessagesQuery{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(local) != len(server) {
		t.Errorf("seed %d: bob has %d messages, the server %d", seed, len(local), len(server))
	}
	for id, n := range server {
		if n != 1 {
			t.Errorf("seed %d: %s is on the server %d times", seed, id, n)
		}
	}
	for _, m := range local {
		if server[m.ID] != 1 || m.Status != offlinedb.StatusSent {
			t.Errorf("seed %d: local %s (%s) not on the server once", seed, m.ID, m.Status)
		}
	}
}
