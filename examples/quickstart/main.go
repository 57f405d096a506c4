package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

type printer struct {
	out interface{ Write([]byte) (int, error) }
}

func (p printer) say(format string, args ...any) { fmt.Fprintf(p.out, format+"\n", args...) }

func run(ctx context.Context, out interface{ Write([]byte) (int, error) }) error {
	p := printer{out}
	dir, err := os.MkdirTemp("", "outpost-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The server: embedded SQLite, on a loopback port.
	secret := []byte("quickstart-secret")
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "server.db"), nil)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := server.New(server.Config{Store: store, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer func() { hs.Shutdown(context.Background()); srv.Close() }()
	url := "http://" + ln.Addr().String()
	p.say("server: listening on %s, data in %s", url, filepath.Join(dir, "server.db"))

	open := func(user string) (*outpost.Client, error) {
		tok, err := token.Issue(secret, user, time.Hour)
		if err != nil {
			return nil, err
		}
		// Open does not wait for the network; the story starts once each
		// user is online and caught up.
		c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: user, Token: tok,
			DBPath:   filepath.Join(dir, user+".db"),
			Client:   client.Config{MinReconnectDelay: 50 * time.Millisecond, MaxReconnectDelay: time.Second},
			OnStatus: syncStatusPrinter(p, user)})
		if err != nil {
			return nil, err
		}
		if err := c.WaitForFirstSync(ctx); err != nil {
			c.Close(ctx)
			return nil, err
		}
		return c, nil
	}
	alice, err := open("alice")
	if err != nil {
		return err
	}
	defer alice.Close(ctx)
	cid, err := alice.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "general", Name: "General", Members: []string{"bob"}})
	if err != nil {
		return err
	}
	bob, err := open("bob")
	if err != nil {
		return err
	}
	defer bob.Close(ctx)
	p.say("alice and bob are online; alice made %s with both in it", cid)
	if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "Morning, Bob!"}); err != nil {
		return err
	}
	// Synced too: bob's first sync (with the channel's history) is done,
	// so going offline is a change he hears.
	if err := waitFor(ctx, func() bool { return count(ctx, bob, cid) == 1 && bob.Status().Synced }, bob); err != nil {
		return fmt.Errorf("bob never got alice's first message: %w", err)
	}
	p.say("bob got alice's message live")

	p.say("")
	p.say("bob goes offline")
	bob.Disconnect(ctx)
	if err := waitFor(ctx, func() bool { return !bob.Status().Synced }, bob); err != nil {
		return err
	}
	for _, text := range []string{"Are you there?", "The build is green."} {
		if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: text}); err != nil {
			return err
		}
		p.say("alice posts: %q", text)
	}
	// WaitSynced returns once alice's outbox is empty and a sync after
	// the call completed: her messages are on the server.
	if err := alice.WaitSynced(ctx); err != nil {
		return fmt.Errorf("alice's messages never left her outbox: %w", err)
	}
	for _, text := range []string{"Writing this on the train.", "No signal, but Outpost keeps it."} {
		if _, err := bob.SendMessage(ctx, cid, outpost.NewMessage{Text: text}); err != nil {
			return err
		}
	}
	p.say("bob writes two messages offline; his local store shows:")
	show(ctx, p, bob, cid)
	caughtUp := make(chan struct{})
	bob.ScheduleSyncStatusChangeCallback("caught-up", func(ctx context.Context) error {
		p.say("  [bob] post-sync callback: caught up, %d messages in %s", count(ctx, bob, cid), cid)
		close(caughtUp)
		return nil
	})

	p.say("")
	p.say("bob comes back")
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	err = bob.Connect(cctx)
	ccancel()
	if err != nil {
		return fmt.Errorf("bob could not reconnect: %w", err)
	}
	// WaitSynced: bob's outbox drained and a sync that started after the
	// call brought everything the server had.
	if err := bob.WaitSynced(ctx); err != nil {
		return fmt.Errorf("bob did not catch up: %w", err)
	}
	if n := count(ctx, bob, cid); n != 5 {
		return fmt.Errorf("bob has %d messages after catching up, want 5", n)
	}
	// The callback runs on bob's dispatcher after the cycle's commit; wait
	// for it, so its line comes here.
	select {
	case <-caughtUp:
	case <-time.After(10 * time.Second):
		return errors.New("bob's post-sync callback never ran")
	}
	p.say("bob's outbox drained (his two messages went first, in order); sync applied alice's messages")
	if err := waitFor(ctx, func() bool { return count(ctx, alice, cid) == 5 }, alice); err != nil {
		return fmt.Errorf("alice did not get bob's messages: %w", err)
	}

	p.say("")
	p.say("alice's local store:")
	show(ctx, p, alice, cid)
	p.say("bob's local store:")
	show(ctx, p, bob, cid)

	// Ask the server itself, over its REST API, with a client of its own.
	tok, err := token.Issue(secret, "alice", time.Hour)
	if err != nil {
		return err
	}
	api, err := client.New(client.Config{ServerURL: url, UserID: "alice", Token: tok})
	if err != nil {
		return err
	}
	defer api.Close(ctx)
	resp, err := api.QueryMessages(ctx, cid, client.MessagesQuery{Limit: 100})
	if err != nil {
		return err
	}
	var want []string
	for _, m := range resp.Messages {
		want = append(want, m.ID+" "+m.Text)
	}
	for _, c := range []*outpost.Client{alice, bob} {
		if got := ids(ctx, c, cid); !slices.Equal(got, want) {
			return fmt.Errorf("%s's store differs from the server:\n  local:  %v\n  server: %v", c.UserID(), got, want)
		}
	}
	p.say("")
	p.say("both local stores equal the server's %d messages. done.", len(want))
	return nil
}

func messages(ctx context.Context, c *outpost.Client, cid string) []offlinedb.Message {
	ms, _ := c.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: 100})
	return ms
}

func count(ctx context.Context, c *outpost.Client, cid string) int { return len(messages(ctx, c, cid)) }

func ids(ctx context.Context, c *outpost.Client, cid string) []string {
	var out []string
	for _, m := range messages(ctx, c, cid) {
		out = append(out, m.ID+" "+m.Text)
	}
	return out
}

func show(ctx context.Context, p printer, c *outpost.Client, cid string) {
	for _, m := range messages(ctx, c, cid) {
		p.say("  %-9s %-6s %s", "["+string(m.Status)+"]", m.UserID+":", m.Text)
	}
}

// waitFor waits until cond holds: it checks cond again each time one of
// the clients says that its store or its status changed (the store has
// the change by then), and gives up when ctx ends.
func waitFor(ctx context.Context, cond func() bool, cs ...*outpost.Client) error {
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for _, c := range cs {
		defer c.OnChange(func(syncmanager.Change) { poke() })()
		defer c.OnStatus(func(syncmanager.Status) { poke() })()
	}
	for !cond() {
		select {
		case <-ctx.Done():
			return errors.New("timed out")
		case <-changed:
		}
	}
	return nil
}

// syncStatusPrinter returns a status listener that says each change of
// user's sync status (Status.Synced). Listeners run one at a time, in
// order, so it keeps the last value without a lock.
func syncStatusPrinter(p printer, user string) func(syncmanager.Status) {
	synced := false
	return func(st syncmanager.Status) {
		if st.Synced == synced {
			return
		}
		synced = st.Synced
		if synced {
			p.say("  [%s] sync status: online and synced", user)
		} else {
			p.say("  [%s] sync status: offline", user)
		}
	}
}
