package outpost_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/token"
)

func openCfg(url, user, tokenUser, path string) outpost.Config {
	tok, _ := token.Issue(secret, tokenUser, time.Hour)
	return outpost.Config{ServerURL: url, UserID: user, Token: tok, DBPath: path,
		ConnectTimeout: 3 * time.Second, // to hear a refused token from Open
		Client:         client.Config{MinReconnectDelay: 5 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond},
		Sync:           offlineSync()}
}

// privateChannel makes a channel only alice is a member of.
func privateChannel(t *testing.T, url string) string {
	t.Helper()
	alice := open(t, url, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(context.Background(), protocol.CreateChannelRequest{Type: "team", ID: "alice-only"})
	if err != nil {
		t.Fatal(err)
	}
	return ch.Channel.CID
}

// TestIdentity_WrongToken: Open for bob with alice's token fails with a
// permanent *client.UserMismatchError, and bob's store holds nothing of
// alice's.
func TestIdentity_WrongToken(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	privateChannel(t, ts.URL)
	path := filepath.Join(t.TempDir(), "bob.db")
	c, err := outpost.Open(ctx, openCfg(ts.URL, "bob", "alice", path))
	if err == nil {
		c.Close(context.Background())
		t.Fatal("Open for bob with alice's token: no error")
	}
	var um *client.UserMismatchError
	if !errors.As(err, &um) || um.Want != "bob" || um.Got != "alice" {
		t.Fatalf("err = %v, want a *client.UserMismatchError (want bob, got alice)", err)
	}
	if !client.IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = false", err)
	}
	db, err := store.Open(ctx, path, offlinedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	chans, err := db.Channels(ctx, offlinedb.ChannelsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 0 {
		t.Errorf("bob's store holds %d channels, want none", len(chans))
	}
}

// TestIdentity_WrongDBUser: bob opening alice's store is refused with an
// *offlinedb.IdentityError; with WipeOnIdentityChange the store is wiped
// first, and alice's offline write is never sent as bob.
func TestIdentity_WrongDBUser(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	cid := privateChannel(t, ts.URL)
	path := filepath.Join(t.TempDir(), "alice.db")
	a, err := outpost.Open(ctx, openCfg(ts.URL, "alice", "alice", path))
	if err != nil {
		t.Fatal(err)
	}
	outpost.ConnOf(a).Disconnect()
	if _, err := a.SendMessage(ctx, cid, outpost.NewMessage{Text: "alice's unsent words"}); err != nil {
		t.Fatal(err)
	}
	a.Close(context.Background())

	_, err = outpost.Open(ctx, openCfg(ts.URL, "bob", "bob", path))
	var ie *offlinedb.IdentityError
	if !errors.As(err, &ie) || ie.Field != "user" || ie.Stored != "alice" || ie.Want != "bob" {
		t.Fatalf("err = %v, want an *offlinedb.IdentityError for user alice", err)
	}

	cfg := openCfg(ts.URL, "bob", "bob", path)
	cfg.WipeOnIdentityChange = true
	b, err := outpost.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if err := b.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	chans, _, err := b.Channels(ctx, offlinedb.ChannelsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chans {
		if ch.CID == cid {
			t.Errorf("bob sees alice's private channel %s", cid)
		}
	}
	if p, _ := outpost.StoreOf(b).PendingTasks(ctx); len(p) != 0 {
		t.Errorf("the wiped store still has %d pending tasks", len(p))
	}
	if user, _, _, _ := outpost.StoreOf(b).Identity(ctx); user != "bob" {
		t.Errorf("store bound to %q, want bob", user)
	}
	alice := open(t, ts.URL, "alice")
	if got := onServer(t, alice, cid); len(got) != 0 {
		t.Errorf("the server got %v from the wiped outbox", got)
	}
}

// TestIdentity_WrongServer: a store is bound to its server; opening it
// against another is refused.
func TestIdentity_WrongServer(t *testing.T) {
	ctx := context.Background()
	one, two := startServer(t), startServer(t)
	privateChannel(t, one.URL)
	path := filepath.Join(t.TempDir(), "alice.db")
	a, err := outpost.Open(ctx, openCfg(one.URL, "alice", "alice", path))
	if err != nil {
		t.Fatal(err)
	}
	a.Close(context.Background())
	// The same server, spelt with a trailing slash, is the same.
	a, err = outpost.Open(ctx, openCfg(one.URL+"/", "alice", "alice", path))
	if err != nil {
		t.Fatal(err)
	}
	a.Close(context.Background())

	_, err = outpost.Open(ctx, openCfg(two.URL, "alice", "alice", path))
	var ie *offlinedb.IdentityError
	if !errors.As(err, &ie) || ie.Field != "server" || !errors.Is(err, offlinedb.ErrIdentityMismatch) {
		t.Fatalf("err = %v, want an *offlinedb.IdentityError for the server", err)
	}
	cfg := openCfg(two.URL, "alice", "alice", path)
	cfg.WipeOnIdentityChange = true
	a, err = outpost.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	chans, _, _ := a.Channels(ctx, offlinedb.ChannelsQuery{})
	if slices.ContainsFunc(chans, func(c offlinedb.Channel) bool { return c.CID == "team:alice-only" }) {
		t.Error("the store pointed at another server keeps the old server's channel")
	}
}
