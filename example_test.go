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
	"github.com/outpostsync/outpost/protocol"
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
	defer c.Close()
	fmt.Println("synced:", <-synced)

	ch, _ := c.Conn.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "general"})
	ran := make(chan struct{})
	c.Sync.ScheduleSyncStatusChangeCallback("greet", func(context.Context) error {
		fmt.Println("post-sync callback ran")
		close(ran)
		return nil
	})
	id, _ := c.SendMessage(ctx, ch.Channel.CID, "hello, offline world")
	_ = c.Sync.SyncNow(ctx) // drains the outbox, then syncs
	<-ran

	msg, _ := c.DB.Message(ctx, id)
	fmt.Println(msg.Text, "-", msg.Status == offlinedb.StatusSent)
	// Output:
	// synced: true
	// post-sync callback ran
	// hello, offline world - true
}
