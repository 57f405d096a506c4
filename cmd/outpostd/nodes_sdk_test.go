package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/access"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// TestNodes_SDKClientsConverge runs three outpostd processes on one
// Postgres and an SDK client for each of three users, each on a random
// node. The clients send messages through their outboxes while nodes are
// SIGKILLed and started again; the clients reconnect and retry. At the
// end every client's store holds exactly the server's messages, each
// sent, and the server holds every write once.
func TestNodes_SDKClientsConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds outpostd and runs three processes")
	}
	const secret = "sdk-nodes-secret"
	nodes, dsn := startProcNodes(t, 3, secret)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)
	ctx := context.Background()
	users := []string{"u0", "u1", "u2"}
	clients := make([]*outpost.Client, len(users))
	for i, u := range users {
		tok, err := token.Issue([]byte(secret), u, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		n := nodes[rng.IntN(len(nodes))]
		c, err := outpost.Open(ctx, outpost.Config{ServerURL: n.url(), UserID: u, Token: tok,
			DBPath: filepath.Join(t.TempDir(), u+".db"), ConnectTimeout: 5 * time.Second,
			Client: client.Config{MinReconnectDelay: 5 * time.Millisecond, MaxReconnectDelay: 100 * time.Millisecond,
				HealthCheckInterval: 100 * time.Millisecond, HealthTimeout: 700 * time.Millisecond,
				RequestTimeout: 2 * time.Second},
			Sync: syncmanager.Options{RetryMinDelay: 10 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond,
				// A channel new to the store is filled with its latest
				// messages: all of them, to compare with the server.
				RefillMessageLimit: 200}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		clients[i] = c
	}
	cid, err := clients[0].CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "conv", Members: users[1:]})
	if err != nil {
		t.Fatal(err)
	}
	const each = 20
	killed := 0
	for i := range each {
		for k, c := range clients {
			if _, err := c.SendMessage(ctx, cid, outpost.NewMessage{ID: fmt.Sprintf("%s-%02d", users[k], i), Text: "hi"}); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 2 && os.Getenv("OUTPOST_NODES_NOKILL") == "" {
			n := nodes[rng.IntN(len(nodes))]
			n.kill()
			killed++
			n.start()
		}
	}

	// Converge: every outbox drained, then one more sync each.
	deadline := time.Now().Add(60 * time.Second)
	for _, c := range clients {
		for {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.SyncNow(sctx)
			cancel()
			if st := c.Status(); err == nil && st.Pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("seed %d: no convergence in 60s: %+v (%v)", seed, c.Status(), err)
			}
		}
	}
	for _, c := range clients {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.SyncNow(sctx)
		cancel()
		if err != nil {
			t.Fatalf("seed %d: the last sync: %v", seed, err)
		}
	}

	st, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var serverIDs []string
	news := map[string]int{}
	if err := st.View(ctx, func(tx server.Tx) error {
		ms, err := tx.Messages(cid, server.MessagesPage{Limit: 100000})
		if err != nil {
			return err
		}
		for _, m := range ms {
			serverIDs = append(serverIDs, m.ID)
		}
		evs, err := tx.ChannelEvents(cid, 0, 100000)
		if err != nil {
			return err
		}
		for _, e := range evs {
			ev, err := protocol.DecodeEvent(e.Payload)
			if err != nil {
				return err
			}
			if ev.Type == protocol.EventMessageNew {
				news[ev.Message.ID]++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(serverIDs) != each*len(users) {
		t.Errorf("seed %d: the server holds %d messages, want %d", seed, len(serverIDs), each*len(users))
	}
	for id, n := range news {
		if n != 1 {
			t.Errorf("seed %d: %s has %d message.new events", seed, id, n)
		}
	}
	slices.Sort(serverIDs)
	for k, c := range clients {
		if st := c.Status(); st.Failed != 0 {
			t.Errorf("seed %d: %s has %d failed writes", seed, users[k], st.Failed)
		}
		local, err := c.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range local {
			if m.Status != offlinedb.StatusSent {
				t.Errorf("seed %d: %s holds %s as %s", seed, users[k], m.ID, m.Status)
			}
			ids = append(ids, m.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, serverIDs) {
			var missing []string
			for _, id := range serverIDs {
				if _, found := slices.BinarySearch(ids, id); !found {
					missing = append(missing, id)
				}
			}
			pos, _ := access.Store(c).SyncPositions(ctx)
			t.Errorf("seed %d: %s holds %d messages, the server %d; missing %v; its position %+v", seed, users[k], len(ids), len(serverIDs), missing, pos)
		}
	}
	t.Logf("%d messages from 3 SDK clients on 3 nodes, %d SIGKILLs", len(serverIDs), killed)
}
