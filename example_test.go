package outpost_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

// Example opens Outpost for one user against a server, with a sync-status
// listener and a post-sync callback, sends a message and reads it back
// from the local store.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "outpost-example-")
	defer os.RemoveAll(dir)

	// A server to talk to, in process for the example.
	secret := []byte("example-secret")
	store, _ := sqlitestore.Open(ctx, filepath.Join(dir, "server.db"), nil)
	defer store.Close()
	srv, _ := server.New(server.Config{Store: store, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	tok, _ := token.Issue(secret, "alice", time.Hour)

	synced := make(chan bool, 10)
	c, err := outpost.Open(ctx, outpost.Config{
		ServerURL:          ts.URL,
		UserID:             "alice",
		Token:              tok,
		DBPath:             filepath.Join(dir, "alice.db"),
		OnSyncStatusChange: func(s bool) { synced <- s },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	fmt.Println("synced:", <-synced)

	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "general"})
	ran := make(chan struct{})
	c.ScheduleSyncStatusChangeCallback("greet", func(context.Context) error {
		fmt.Println("post-sync callback ran")
		close(ran)
		return nil
	})
	w, _ := c.SendMessage(ctx, cid, outpost.NewMessage{Text: "hello, offline world"})
	_ = c.SyncNow(ctx) // drains the outbox, then syncs
	<-ran

	msg, _ := c.Message(ctx, w.MessageID)
	fmt.Println(msg.Text, "-", msg.Status == offlinedb.StatusSent)
	// Output:
	// synced: true
	// post-sync callback ran
	// hello, offline world - true
}

// exampleServer starts an in-process server for the examples and returns
// its URL, a token maker and a cleanup.
func exampleServer(dir string) (url string, tokenFor func(user string) string, stop func()) {
	secret := []byte("example-secret")
	store, _ := sqlitestore.Open(context.Background(), filepath.Join(dir, "server.db"), nil)
	srv, _ := server.New(server.Config{Store: store, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	ts := httptest.NewServer(srv)
	return ts.URL, func(user string) string {
			tok, _ := token.Issue(secret, user, time.Hour)
			return tok
		}, func() {
			srv.Close()
			ts.Close()
			store.Close()
		}
}

// ExampleClient_OnSyncStatusChange shows a status listener: false while
// the connection is down, true after each successful catch-up.
func ExampleClient_OnSyncStatusChange() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "outpost-example-")
	defer os.RemoveAll(dir)
	url, tokenFor, stop := exampleServer(dir)
	defer stop()

	c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: "bob", Token: tokenFor("bob"),
		DBPath: filepath.Join(dir, "bob.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	// Open does not wait for the network; this example starts online.
	if err := c.WaitForFirstSync(ctx); err != nil {
		fmt.Println(err)
		return
	}

	changes := make(chan bool, 10)
	unsubscribe := c.OnSyncStatusChange(func(synced bool) { changes <- synced })
	defer unsubscribe()

	c.Disconnect(ctx) // the network goes away
	fmt.Println("synced:", <-changes)
	_ = c.Connect(ctx) // and comes back: the manager drains and syncs
	fmt.Println("synced:", <-changes)
	// Output:
	// synced: false
	// synced: true
}

// ExampleClient_ScheduleSyncStatusChangeCallback schedules work for after
// the next successful sync, made while offline: it runs once, when the
// connection is back and the outbox has drained.
func ExampleClient_ScheduleSyncStatusChangeCallback() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "outpost-example-")
	defer os.RemoveAll(dir)
	url, tokenFor, stop := exampleServer(dir)
	defer stop()

	c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: "carol", Token: tokenFor("carol"),
		DBPath: filepath.Join(dir, "carol.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "notes"})

	c.Disconnect(ctx)
	w, _ := c.SendMessage(ctx, cid, outpost.NewMessage{Text: "written offline"})
	msg, _ := c.Message(ctx, w.MessageID)
	fmt.Println("before:", msg.Status)

	ran := make(chan struct{})
	c.ScheduleSyncStatusChangeCallback("after-catch-up", func(ctx context.Context) error {
		msg, _ := c.Message(ctx, w.MessageID)
		fmt.Println("after:", msg.Status)
		close(ran)
		return nil
	})
	_ = c.Connect(ctx)
	<-ran
	// Output:
	// before: pending
	// after: sent
}

// ExampleClient_WaitSynced writes offline and waits until the writes are
// on the server and the store has caught up.
func ExampleClient_WaitSynced() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "outpost-example-")
	defer os.RemoveAll(dir)
	url, tokenFor, stop := exampleServer(dir)
	defer stop()

	c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: "dave", Token: tokenFor("dave"),
		DBPath: filepath.Join(dir, "dave.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "later"})

	c.Disconnect(ctx)
	w, _ := c.SendMessage(ctx, cid, outpost.NewMessage{Text: "sent when back"})
	_ = c.Connect(ctx)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitSynced(wctx); err != nil {
		fmt.Println(err)
		return
	}
	msg, _ := c.Message(ctx, w.MessageID)
	fmt.Println(msg.Text+":", msg.Status)
	// Output:
	// sent when back: sent
}
