package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

// demo is the world `go run .` opens on when no server is named: a sync
// server in this process, on SQLite in a temp directory that Close
// removes, and a list bob shares with you, with three tasks.
type demo struct {
	URL, Dir string
	secret   []byte
	store    *sqlitestore.Store
	srv      *server.Server
	hs       *http.Server
	served   chan struct{} // closed when hs.Serve returned
}

// demoRules are the demo server's record rules: tasks, which only their
// maker (or the list's owner) may delete, so a refusal is there to try.
var demoRules = &server.Rules{Collections: map[string]server.CollectionRules{
	tasksCollection: {Delete: server.WhoCreator},
}}

// demoFriend shares the demo's list with you.
const demoFriend = "bob"

func startDemo(ctx context.Context, you string) (_ *demo, err error) {
	if you == demoFriend {
		return nil, fmt.Errorf("user %q is taken in the demo; pick another --user", you)
	}
	dir, err := os.MkdirTemp("", "outpost-desktop-demo-")
	if err != nil {
		return nil, err
	}
	d := &demo{Dir: dir, secret: []byte("outpost-desktop-demo-secret")}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.Close())
		}
	}()
	if d.store, err = sqlitestore.Open(ctx, filepath.Join(dir, "server.db"), nil); err != nil {
		return d, err
	}
	if d.srv, err = server.New(server.Config{Store: d.store, Secret: d.secret, Rules: demoRules,
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		return d, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return d, err
	}
	d.hs = &http.Server{Handler: d.srv, ReadHeaderTimeout: 10 * time.Second}
	d.served = make(chan struct{})
	go func() {
		defer close(d.served)
		d.hs.Serve(ln)
	}()
	d.URL = "http://" + ln.Addr().String()

	// Bob talks over REST only; he needs no store.
	tok, err := d.Token(demoFriend)
	if err != nil {
		return d, err
	}
	bob, err := client.New(client.Config{ServerURL: d.URL, UserID: demoFriend, Token: tok})
	if err != nil {
		return d, err
	}
	defer bob.Close(context.Background())
	list, err := bob.CreateChannel(ctx, protocol.CreateChannelRequest{
		Type: listType, ID: "welcome", Name: "Welcome", Members: []string{you}})
	if err != nil {
		return d, fmt.Errorf("make the demo list: %w", err)
	}
	for i, title := range []string{
		"Press Ctrl+O to go offline, add a task, then Ctrl+O again",
		"Tick me",
		"Delete me (you may not: bob made me, and the demo's rules say only he may)",
	} {
		// Ids that sort before the ones the app makes (newTaskID), so
		// these stay on top.
		k := client.RecordKey{CID: list.Channel.CID, Collection: tasksCollection, ID: fmt.Sprintf("t0-welcome-%d", i)}
		req := protocol.CreateRecordRequest{Fields: map[string]json.RawMessage{"title": mustJSON(title)}}
		if _, err := bob.CreateRecord(ctx, k, req); err != nil {
			return d, fmt.Errorf("bob adds a task: %w", err)
		}
	}
	return d, nil
}

// Token mints a token for user, valid for a day.
func (d *demo) Token(user string) (string, error) {
	return token.Issue(d.secret, user, 24*time.Hour)
}

// Close stops the server and removes the demo's directory, your store
// with it.
func (d *demo) Close() error {
	var errs []error
	if d.hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, d.hs.Shutdown(ctx))
		cancel()
		<-d.served
	}
	if d.srv != nil {
		errs = append(errs, d.srv.Close())
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
	}
	errs = append(errs, os.RemoveAll(d.Dir))
	return errors.Join(errs...)
}
