package outpost_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
)

// pgNode is one outpostd node on a shared Postgres database, in process.
type pgNode struct {
	URL  string
	kill func() // stops the node, its WebSockets with it; idempotent
}

func startPGNode(tb testing.TB, dsn string) pgNode {
	tb.Helper()
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond,
		WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	var once sync.Once
	kill := func() {
		once.Do(func() {
			srv.Close()
			ts.CloseClientConnections()
			ts.Close()
			st.Close()
		})
	}
	tb.Cleanup(kill)
	return pgNode{URL: ts.URL, kill: kill}
}

// count returns how many of rendered ("id:text:status") have text.
func count(rendered []string, text string) int {
	n := 0
	for _, r := range rendered {
		if strings.Contains(r, ":"+text+":") {
			n++
		}
	}
	return n
}

// TestFailover_Story: Alice's SDK knows two nodes of one cluster and is
// connected to node A. A dies; a message she writes while her client
// switches is delivered once, through node B; a message Bob writes
// through B reaches her store.
func TestFailover_Story(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	a, b := startPGNode(t, dsn), startPGNode(t, dsn)

	alice := openWith(t, a.URL, "alice", func(cfg *outpost.Config) { cfg.ServerURLs = []string{b.URL} })
	bob := open(t, b.URL, "bob")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "general", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "before"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's first message sent", func() bool { return count(local(t, alice, cid), "before") == 1 && alice.Status().Pending == 0 })
	waitFor(t, "bob to have the channel", func() bool { return count(local(t, bob, cid), "before") == 1 })

	before := outpost.ConnOf(alice).ConnectionID()
	a.kill()
	if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "while switching"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice connected through node B", func() bool {
		id := outpost.ConnOf(alice).ConnectionID()
		return outpost.ConnOf(alice).IsHealthy() && id != "" && id != before
	})
	if _, err := bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "from bob via B"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's write sent and bob's in her store", func() bool {
		got := local(t, alice, cid)
		return alice.Status().Pending == 0 && count(got, "from bob via B") == 1 &&
			strings.Contains(strings.Join(got, "|"), ":while switching:sent")
	})
	waitFor(t, "bob to have alice's write", func() bool { return count(local(t, bob, cid), "while switching") == 1 })

	if got := count(onServer(t, alice, cid), "while switching"); got != 1 {
		t.Errorf("copies of the write made while switching on the server: got %d, want 1", got)
	}
	if got := count(local(t, alice, cid), "while switching"); got != 1 {
		t.Errorf("copies of the write made while switching in alice's store: got %d, want 1", got)
	}
}
