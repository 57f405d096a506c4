package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/token"
)

// TestNodes_OneServerID: the outpostd processes on one Postgres database
// say one server id in their hellos; a process on another database says
// another. A store reached through one node keeps working through the
// other.
func TestNodes_OneServerID(t *testing.T) {
	if testing.Short() {
		t.Skip("builds outpostd and runs three processes")
	}
	const secret = "identity-nodes-secret"
	cluster, _ := startProcNodes(t, 2, secret)
	other, _ := startProcNodes(t, 1, secret)
	ctx := context.Background()
	tok, err := token.Issue([]byte(secret), "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hello := func(url string) protocol.Hello {
		t.Helper()
		c, err := client.New(client.Config{ServerURL: url, UserID: "alice", Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		resp, err := c.Sync(ctx, protocol.SyncRequest{Channels: []protocol.ChannelPosition{}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Hello == nil || resp.Hello.ServerID == "" {
			t.Fatalf("%s: sync answer without a hello", url)
		}
		return *resp.Hello
	}
	one, two, three := hello(cluster[0].url()), hello(cluster[1].url()), hello(other[0].url())
	if one != two {
		t.Errorf("two nodes on one database say %+v and %+v", one, two)
	}
	if three.ServerID == one.ServerID {
		t.Errorf("a node on another database says the cluster's id %q", one.ServerID)
	}
	if one.Retention() != 720*time.Hour {
		t.Errorf("retention %s, want outpostd's default 720h", one.Retention())
	}

	path := filepath.Join(t.TempDir(), "alice.db")
	for i, n := range cluster {
		c, err := outpost.Open(ctx, outpost.Config{ServerURL: n.url(), UserID: "alice", Token: tok, DBPath: path,
			ConnectTimeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if i == 0 {
			if _, err := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "nodes"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.SendMessage(ctx, "team:nodes", outpost.NewMessage{Text: "through node"}); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = c.WaitSynced(wctx)
		cancel()
		if err != nil || c.Status().Fatal != nil {
			t.Errorf("node %d: WaitSynced = %v, status %+v", i, err, c.Status())
		}
		c.Close(ctx)
	}
}
