package outpost_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

// movableClock is a server clock a test can move, backwards too.
type movableClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *movableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *movableClock) Shift(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

// truncServer starts a server on st with clock now (the tokens the tests
// issue stay valid an hour either way) and returns its URL.
func truncServer(tb testing.TB, st server.Store, now func() time.Time) string {
	tb.Helper()
	srv, err := server.New(server.Config{Store: st, Secret: secret, Now: now, Logger: slog.New(slog.DiscardHandler),
		WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1, TokenLeeway: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	tb.Cleanup(func() {
		srv.Close()
		ts.Close()
		st.Close()
	})
	return ts.URL
}

// truncClients opens an SDK for each user on url and makes, as the
// first, a channel with all of them; it returns the clients and the cid.
func truncClients(tb testing.TB, url string, users ...string) ([]*outpost.Client, string) {
	tb.Helper()
	ctx := context.Background()
	var cs []*outpost.Client
	for _, u := range users {
		// Requests get time: eight writers queue on one channel's lock,
		// and a writer whose batches keep timing out behind the others
		// (the schedule's short timeout) would never drain.
		c := convOpen(tb, []string{url}, u, filepath.Join(tb.TempDir(), u+".db"), 5*time.Second,
			func(cfg *outpost.Config) {
				cfg.Client.RequestTimeout, cfg.Client.HealthTimeout = 10*time.Second, 5*time.Second
			})
		tb.Cleanup(func() { c.Close(context.Background()) })
		cs = append(cs, c)
	}
	cid, err := cs[0].CreateChannel(ctx, outpost.NewChannel{ID: "trunc", Members: users[1:]})
	if err != nil {
		tb.Fatal(err)
	}
	return cs, cid
}

// checkStoresEqualServer syncs every client until its outbox is empty
// and checks that each holds exactly the server's messages of cid, with
// their texts.
func checkStoresEqualServer(t *testing.T, rest *client.Client, cid string, cs []*outpost.Client) {
	t.Helper()
	ctx := context.Background()
	// synced syncs c until a sync succeeds with its outbox empty.
	synced := func(c *outpost.Client) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := c.SyncNow(ctx)
			tasks, terr := c.PendingTasks(ctx)
			if terr != nil {
				t.Fatal(terr)
			}
			if err == nil && len(tasks) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not drain: %d pending, %v", c.UserID(), len(tasks), err)
			}
			time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
		}
	}
	for _, c := range cs {
		synced(c)
	}
	var want []string
	for _, m := range convServerMessages(t, rest, cid) {
		want = append(want, m.ID+"="+m.Text)
	}
	for _, c := range cs {
		synced(c) // after every other drain
		var got []string
		for _, m := range convLocalAll(t, c, cid, true) {
			got = append(got, m.ID+"="+m.Text)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s holds %d messages, the server %d:\n got %v\nwant %v", c.UserID(), len(got), len(want), got, want)
		}
		fts, err := c.FailedTasks(ctx)
		if err != nil || len(fts) > 0 {
			t.Errorf("%s: failed tasks %+v, %v", c.UserID(), fts, err)
		}
	}
}

// TestTruncate_ClockBack: a message sent after a truncate stays on every
// client when the server's clock went back between the two, so that the
// message's time is before the truncate's: the log's order decides.
func TestTruncate_ClockBack(t *testing.T) {
	clk := &movableClock{}
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	url := truncServer(t, st, clk.Now)
	cs, cid := truncClients(t, url, "alice", "bob")
	alice := convREST(t, url, "alice")
	ctx := context.Background()

	if _, err := cs[0].SendMessage(ctx, cid, outpost.NewMessage{Text: "before the truncate"}); err != nil {
		t.Fatal(err)
	}
	checkStoresEqualServer(t, alice, cid, cs)
	if _, err := alice.TruncateChannel(ctx, cid); err != nil {
		t.Fatal(err)
	}
	clk.Shift(-30 * time.Minute)
	for i, c := range cs {
		if _, err := c.SendMessage(ctx, cid, outpost.NewMessage{Text: fmt.Sprintf("after the truncate, by %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	checkStoresEqualServer(t, alice, cid, cs)
	if got := convServerMessages(t, alice, cid); len(got) != len(cs) {
		t.Fatalf("server holds %d messages, want the %d sent after the truncate", len(got), len(cs))
	}
}

// TestTruncate_RacingWritersPostgres: eight writers send while the owner
// truncates, on Postgres, where a send may wait behind a truncate for
// its channel's lock; every client ends equal to the server.
func TestTruncate_RacingWritersPostgres(t *testing.T) {
	st, err := pgstore.Open(context.Background(), pgtest.DSN(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	url := truncServer(t, st, time.Now)
	users := []string{"w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"}
	cs, cid := truncClients(t, url, users...)
	owner := convREST(t, url, users[0])
	ctx := context.Background()

	const perWriter, truncates = 12, 6
	var wg sync.WaitGroup
	errs := make(chan error, len(cs)+1)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perWriter {
				if _, err := c.SendMessage(ctx, cid, outpost.NewMessage{Text: fmt.Sprintf("%s #%d", users[i], k)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range truncates {
			if _, err := owner.TruncateChannel(ctx, cid); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkStoresEqualServer(t, owner, cid, cs)
}
