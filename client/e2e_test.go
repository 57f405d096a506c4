package client_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

// End-to-end tests: the client against the real server (package server on
// its SQLite store), on a restartable address, optionally behind a fault
// proxy.

var e2eSecret = []byte("e2e-secret")

type realServer struct {
	srv  *server.Server
	http *faultproxy.Server
}

// startRealServer runs the reference server with health checks every 50ms,
// well inside the clients' 1s health timeout.
func startRealServer(tb testing.TB) *realServer {
	tb.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Store:          st,
		Secret:         e2eSecret,
		Logger:         slog.New(slog.DiscardHandler),
		HealthInterval: 50 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	hs, err := faultproxy.NewServer(srv)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	return &realServer{srv: srv, http: hs}
}

// issue returns a token for user valid for ttl from now; a negative ttl
// gives a token that expired that long ago.
func issue(tb testing.TB, user string, ttl time.Duration) string {
	tb.Helper()
	now := time.Now()
	if ttl < 0 {
		now, ttl = now.Add(2*ttl), -ttl
	}
	tok, err := token.IssueAt(e2eSecret, user, ttl, now)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// realClient makes a client of user against url with a one-hour token.
func realClient(tb testing.TB, url, user string, edit ...func(*client.Config)) *client.Client {
	tb.Helper()
	tok := issue(tb, user, time.Hour)
	return newClient(tb, url, append([]func(*client.Config){func(cfg *client.Config) {
		cfg.UserID = user
		cfg.Token = tok
	}}, edit...)...)
}

// ok holds a call's result for must: ok(c.Call(...)).must(t).
func ok[T any](v *T, err error) result2[T] { return result2[T]{v, err} }

type result2[T any] struct {
	v   *T
	err error
}

func (r result2[T]) must(tb testing.TB) *T {
	tb.Helper()
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return r.v
}

func TestE2E_RESTAndLiveEvents(t *testing.T) {
	rs := startRealServer(t)
	ctx := testCtx(t)
	alice := realClient(t, rs.http.URL(), "alice")
	bob := realClient(t, rs.http.URL(), "bob")
	bobRec := record(bob)
	mustConnect(t, bob)
	mustConnect(t, alice)

	const cid = "team:general"
	ok(alice.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "general", Members: []string{"bob"}})).must(t)
	sent := ok(alice.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "m1", Text: "hello"}})).must(t)
	if sent.Message.ID != "m1" || sent.Message.UserID != "alice" {
		t.Fatalf("sent = %+v", sent.Message)
	}
	// A repeated send is the same write.
	again := ok(alice.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "m1", Text: "hello"}})).must(t)
	if again.Message.Version != sent.Message.Version {
		t.Errorf("repeat send changed the version: %d -> %d", sent.Message.Version, again.Message.Version)
	}
	bobRec.waitFor(t, "bob's message.new", waitLimit, func() bool { return bobRec.count(protocol.EventMessageNew) == 1 })
	if ev := bobRec.ofType(protocol.EventMessageNew)[0]; ev.Message == nil || ev.Message.Text != "hello" || ev.Seq == 0 {
		t.Errorf("bob got %+v", ev)
	}

	upd := ok(alice.UpdateMessage(ctx, "m1", protocol.UpdateMessageRequest{Text: "hello!"}, client.IdempotencyKey("upd-1"))).must(t)
	updAgain := ok(alice.UpdateMessage(ctx, "m1", protocol.UpdateMessageRequest{Text: "hello!"}, client.IdempotencyKey("upd-1"))).must(t)
	if upd.Message.Version != updAgain.Message.Version {
		t.Errorf("a repeat with the same Idempotency-Key applied again: %d -> %d", upd.Message.Version, updAgain.Message.Version)
	}
	r := ok(bob.SendReaction(ctx, "m1", protocol.SendReactionRequest{Type: "like"}, client.IdempotencyKey("r-1"))).must(t)
	if r.Message.ReactionCounts["like"] != 1 {
		t.Errorf("reaction counts = %v", r.Message.ReactionCounts)
	}
	ok(bob.DeleteReaction(ctx, "m1", "like", client.IdempotencyKey("dr-1"))).must(t)
	ok(bob.MarkRead(ctx, cid, protocol.MarkReadRequest{MessageID: "m1"}, client.IdempotencyKey("read-1"))).must(t)
	ok(alice.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "m2", Text: "second"}})).must(t)
	ok(bob.MarkUnread(ctx, cid, protocol.MarkUnreadRequest{MessageID: "m2"}, client.IdempotencyKey("unread-1"))).must(t)
	ok(alice.DeleteMessage(ctx, "m2", protocol.DeleteMessageBody{}, client.IdempotencyKey("del-1"))).must(t)
	ok(alice.UndeleteMessage(ctx, "m2", client.IdempotencyKey("und-1"))).must(t)

	chans := ok(bob.QueryChannels(ctx, protocol.QueryChannelsRequest{})).must(t)
	if len(chans.Channels) != 1 || chans.Channels[0].Channel.CID != cid {
		t.Errorf("bob's channels = %+v", chans.Channels)
	}
	ch := ok(bob.GetChannel(ctx, cid)).must(t)
	if len(ch.Messages) != 2 {
		t.Errorf("channel messages = %d, want 2", len(ch.Messages))
	}
	page := ok(bob.QueryMessages(ctx, cid, client.MessagesQuery{Limit: 10, Before: "m2"})).must(t)
	if len(page.Messages) != 1 || page.Messages[0].ID != "m1" {
		t.Errorf("messages before m2 = %+v", page.Messages)
	}

	ok(alice.SendEvent(ctx, cid, protocol.EventTypingStart)).must(t)
	bobRec.waitFor(t, "bob's typing.start", waitLimit, func() bool { return bobRec.count(protocol.EventTypingStart) == 1 })

	ok(alice.AddMembers(ctx, cid, []string{"carol"}, client.IdempotencyKey("add-1"))).must(t)
	ok(alice.RemoveMember(ctx, cid, "carol", client.IdempotencyKey("rm-1"))).must(t)

	// Sync pages through the log, one event a page, from the start of
	// the channel's epoch.
	state := ok(bob.GetChannel(ctx, cid)).must(t)
	if state.Position == nil || state.Position.Epoch == "" || state.Position.Seq < 10 {
		t.Fatalf("channel position = %+v, want its epoch and the seq of its log's end", state.Position)
	}
	var events []protocol.Event
	req := protocol.SyncRequest{Channels: []protocol.ChannelPosition{
		{CID: cid, Position: protocol.Position{Epoch: state.Position.Epoch}},
		{CID: "team:nope"},
	}, Limit: 1}
	inaccessible := false
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("sync never ended")
		}
		resp := ok(bob.Sync(ctx, req)).must(t)
		events = append(events, resp.Events...)
		next := req.Channels[:0:0]
		for _, p := range req.Channels {
			for _, cs := range resp.Channels {
				if cs.CID != p.CID {
					continue
				}
				switch cs.Status {
				case protocol.ChannelOK:
					p.Position = *cs.Position
				case protocol.ChannelInaccessible:
					inaccessible = inaccessible || p.CID == "team:nope"
				default:
					t.Errorf("channel %s: %s (%s)", p.CID, cs.Status, cs.Reason)
				}
			}
			next = append(next, p)
		}
		req.Channels = next
		f := resp.Feed.Position
		req.Feed = &f
		if !resp.More {
			break
		}
	}
	if !inaccessible {
		t.Error("team:nope was not answered inaccessible")
	}
	if len(events) < 10 {
		t.Errorf("synced %d events, want the whole log", len(events))
	}
	for i := 1; i < len(events); i++ {
		if events[i].Seq != events[i-1].Seq+1 {
			t.Fatalf("sync seq %d after %d: gap or disorder", events[i].Seq, events[i-1].Seq)
		}
	}

	// Server errors arrive as typed, classified errors.
	carol := realClient(t, rs.http.URL(), "carol")
	_, err := carol.GetChannel(ctx, cid)
	if e, ok := protocol.AsAPIError(err); !ok || e.Code != protocol.CodeNotAllowed || !client.IsPermanent(err) {
		t.Errorf("non-member GetChannel = %v, want permanent code 17", err)
	}
	_, err = alice.Sync(ctx, protocol.SyncRequest{Channels: []protocol.ChannelPosition{{CID: cid}}, LastSyncAt: time.Now().Add(-90 * 24 * time.Hour)})
	if !client.NeedsReset(err) {
		t.Errorf("sync from 90 days ago = %v, want NeedsReset", err)
	}
	_, err = alice.UpdateMessage(ctx, "m1", protocol.UpdateMessageRequest{Text: "x", Extra: []byte(`[1]`)})
	if !client.IsPermanent(err) {
		t.Errorf("bad extra = %v, want a permanent input error", err)
	}
}

func TestE2E_PermanentAuthErrors(t *testing.T) {
	rs := startRealServer(t)
	t.Run("BadToken", func(t *testing.T) {
		c := newClient(t, rs.http.URL(), func(cfg *client.Config) { cfg.Token = "not-a-jwt" })
		err := c.Connect(testCtx(t))
		if e, ok := protocol.AsAPIError(err); !ok || e.Code != protocol.CodeAuth {
			t.Fatalf("Connect = %v, want code 5", err)
		}
		if c.Err() == nil || c.State() != client.StateDisconnected {
			t.Errorf("Err = %v, State = %v", c.Err(), c.State())
		}
	})
	t.Run("ExpiredNoProvider", func(t *testing.T) {
		c := newClient(t, rs.http.URL(), func(cfg *client.Config) { cfg.Token = issue(t, "alice", -time.Hour) })
		err := c.Connect(testCtx(t))
		if e, ok := protocol.AsAPIError(err); !ok || e.Code != protocol.CodeTokenExpired {
			t.Fatalf("Connect = %v, want code 40", err)
		}
	})
	t.Run("ExpiredRefreshed", func(t *testing.T) {
		var calls atomic.Int64
		c := newClient(t, rs.http.URL(), withTokens(issue(t, "alice", -time.Hour), refreshTo(&calls, issue(t, "alice", time.Hour))))
		mustConnect(t, c)
		if _, err := c.QueryChannels(testCtx(t), protocol.QueryChannelsRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("provider called %d times, want 1", got)
		}
	})
}

// e2eProxied is the real server behind a fault proxy, with alice connected
// through the proxy and bob directly.
func e2eProxied(t *testing.T) (*realServer, *faultproxy.Proxy, *client.Client, *recorder, *client.Client) {
	t.Helper()
	rs := startRealServer(t)
	p, err := faultproxy.New(rs.http.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	alice := realClient(t, p.URL(), "alice")
	rec := record(alice)
	mustConnect(t, alice)
	rec.waitSeq(t, waitLimit, "on")
	bob := realClient(t, rs.http.URL(), "bob")
	ok(bob.CreateChannel(testCtx(t), protocol.CreateChannelRequest{Type: "team", ID: "general", Members: []string{"alice"}})).must(t)
	return rs, p, alice, rec, bob
}

// syncAll pages a sync of one channel from a position to its end and
// returns the events.
func syncAll(t *testing.T, c *client.Client, cid string, from protocol.Position) []protocol.Event {
	t.Helper()
	var out []protocol.Event
	req := protocol.SyncRequest{Channels: []protocol.ChannelPosition{{CID: cid, Position: from}}}
	for {
		resp := ok(c.Sync(testCtx(t), req)).must(t)
		out = append(out, resp.Events...)
		for _, cs := range resp.Channels {
			if cs.Status != protocol.ChannelOK {
				t.Fatalf("channel %s: %s (%s)", cs.CID, cs.Status, cs.Reason)
			}
			req.Channels[0].Position = *cs.Position
		}
		if !resp.More {
			return out
		}
	}
}

func TestE2E_Faults(t *testing.T) {
	faults := []struct {
		name       string
		fail, heal func(rs *realServer, p *faultproxy.Proxy)
	}{
		{"Cut", func(_ *realServer, p *faultproxy.Proxy) { p.Refuse(); p.Cut() }, func(_ *realServer, p *faultproxy.Proxy) { p.Heal() }},
		{"Reset", func(_ *realServer, p *faultproxy.Proxy) { p.Refuse(); p.Reset() }, func(_ *realServer, p *faultproxy.Proxy) { p.Heal() }},
		{"Stall", func(_ *realServer, p *faultproxy.Proxy) { p.Stall() }, func(_ *realServer, p *faultproxy.Proxy) { p.Heal() }},
		{"ServerRestart", func(rs *realServer, _ *faultproxy.Proxy) { rs.http.Stop() }, func(rs *realServer, _ *faultproxy.Proxy) {
			if err := rs.http.Start(); err != nil {
				panic(err)
			}
		}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			rs, p, alice, rec, bob := e2eProxied(t)
			const cid = "team:general"
			ctx := testCtx(t)
			rec.waitFor(t, "alice's member.added", waitLimit, func() bool { return rec.count(protocol.EventMemberAdded) > 0 })
			added := rec.ofType(protocol.EventMemberAdded)[0]
			checkpoint := protocol.Position{Epoch: added.Epoch, Seq: added.Seq, EventID: added.ID}

			f.fail(rs, p)
			rec.waitSeq(t, reconnectBound, "on", "off")
			// While alice is offline, bob writes (directly, or after the
			// server is back for the restart case).
			if f.name != "ServerRestart" {
				ok(bob.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "while-offline", Text: "missed?"}})).must(t)
			}
			f.heal(rs, p)
			if f.name == "ServerRestart" {
				ok(bob.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "while-offline", Text: "missed?"}})).must(t)
			}
			rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")

			// After connection.recovered a sync from the last checkpoint
			// fills the gap: nothing is lost.
			found := false
			for _, ev := range syncAll(t, alice, cid, checkpoint) {
				if ev.Message != nil && ev.Message.ID == "while-offline" {
					found = true
				}
			}
			if !found {
				t.Fatal("the message sent while alice was offline is not in her sync")
			}
			// And the live stream works again.
			ok(bob.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "after", Text: "back"}})).must(t)
			rec.waitFor(t, "the live message after the reconnect", waitLimit, func() bool {
				for _, ev := range rec.ofType(protocol.EventMessageNew) {
					if ev.Message != nil && ev.Message.ID == "after" {
						return true
					}
				}
				return false
			})
			if got := rec.connectionEvents(); len(got) != 4 {
				t.Errorf("connection events = %v, want [on off on recovered]", got)
			}
		})
	}
}

func TestE2E_ServerShutdownGoingAway(t *testing.T) {
	rs := startRealServer(t)
	c := realClient(t, rs.http.URL(), "alice")
	rec := record(c)
	mustConnect(t, c)
	rs.srv.Close() // closes every WebSocket with 1001
	rec.waitSeq(t, reconnectBound, "on", "off")
	err := rec.firstError(t)
	var te *client.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("error = %v, want a *TransportError", err)
	}
}
