package outpost_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

// TestRateLimit_FloodDrainsLater: Alice floods a channel through the SDK
// faster than the server lets one user write. The server answers 429 with
// Retry-After; her writes wait in her outbox, nothing fails, and they all
// reach the server later, in order. Bob, writing in the same channel
// meanwhile, is never slowed.
func TestRateLimit_FloodDrainsLater(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "server.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The server's clock stands still until the flood has been limited:
	// no token comes back meanwhile, however slow the machine.
	var frozen atomic.Pointer[time.Time]
	start := time.Now()
	frozen.Store(&start)
	now := func() time.Time {
		if f := frozen.Load(); f != nil {
			return *f
		}
		return time.Now()
	}
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler),
		HealthInterval: 100 * time.Millisecond, WritesPerSecond: 10, WriteBurst: 10, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var limited atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(&statusSpy{ResponseWriter: w, limited: &limited}, r)
	}))
	t.Cleanup(func() { srv.Close(); ts.Close(); st.Close() })

	// Alice sends each write in a request of its own, so the flood is 40
	// requests whatever the machine's pace (a batch counts as one
	// write), and is limited for sure.
	alice := openWith(t, ts.URL, "alice", func(c *outpost.Config) { c.Sync.DrainBatchSize = 1 })
	bob := open(t, ts.URL, "bob")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "flood", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID

	const flood = 40
	var want []string
	for i := range flood {
		id, err := sentID(alice.SendMessage(ctx, cid, outpost.NewMessage{Text: fmt.Sprintf("flood %02d", i)}))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		want = append(want, id)
		if i%16 == 0 {
			// Bob writes straight to the server while Alice floods:
			// never a 429.
			_, err := outpost.ConnOf(bob).SendMessage(ctx, cid, protocol.SendMessageRequest{
				Message: protocol.MessageInput{ID: fmt.Sprintf("bob-%d", i), Text: "calm"}})
			if err != nil {
				t.Fatalf("bob's send during the flood: %v", err)
			}
		}
	}
	waitFor(t, "the flood to be limited", func() bool { return limited.Load() > 0 })
	frozen.Store(nil)
	// 40 writes at 10 a second, each limited one waiting out its
	// Retry-After: a few seconds, many more under -race on a loaded
	// machine; the bound only says the drain ends.
	waitForWithin(t, time.Minute, "alice's outbox to drain", func() bool {
		tasks, err := alice.PendingTasks(ctx)
		return err == nil && len(tasks) == 0
	})
	if limited.Load() == 0 {
		t.Fatal("the flood was never rate limited; the test proves nothing")
	}
	failed, err := alice.FailedTasks(ctx)
	if err != nil || len(failed) != 0 {
		t.Fatalf("failed tasks after the flood: %v %v", failed, err)
	}
	// Every message reached the server once, in the order sent.
	resp, err := outpost.ConnOf(bob).QueryMessages(ctx, cid, client.MessagesQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range resp.Messages {
		if m.UserID == "alice" {
			got = append(got, m.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice's messages on the server:\n got %v\nwant %v", got, want)
	}
	waitFor(t, "alice's local copies to be sent", func() bool {
		for _, m := range local(t, alice, cid) {
			if m[len(m)-5:] != ":sent" {
				return false
			}
		}
		return true
	})
}

// statusSpy counts 429 answers.
type statusSpy struct {
	http.ResponseWriter
	limited *atomic.Int64
}

func (s *statusSpy) WriteHeader(code int) {
	if code == http.StatusTooManyRequests {
		s.limited.Add(1)
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets the WebSocket upgrade reach the real writer's Hijack.
func (s *statusSpy) Unwrap() http.ResponseWriter { return s.ResponseWriter }
