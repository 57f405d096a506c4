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
	"sync"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

// demoBotEvery is how often the demo bot posts.
const demoBotEvery = 6 * time.Second

// Who else is in the demo world.
const (
	demoFriend = "bob"
	demoBot    = "outbot"
)

var demoBotLines = []string{
	"beep. the build is green.",
	"beep. someone pushed to main.",
	"beep. coffee machine is back online.",
	"beep. 3 new issues, 2 closed.",
	"beep. try ctrl+o, write something, then ctrl+o again.",
	"beep. deploy finished in 42s.",
}

// demo is a small world to try the app in: a sync server on embedded
// SQLite on a loopback port, a friend, a bot that posts now and then, and
// two channels. Close stops all of it and removes its files.
type demo struct {
	// URL is the server's base URL; Dir holds its files (and is a good
	// place for the user's local store).
	URL, Dir string

	secret []byte
	store  *sqlitestore.Store
	srv    *server.Server
	hs     *http.Server
	bot    *client.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// startDemo starts the demo world for the user you; the bot posts every
// botEvery.
func startDemo(ctx context.Context, you string, botEvery time.Duration) (_ *demo, err error) {
	if you == demoFriend || you == demoBot {
		return nil, fmt.Errorf("user %q is taken in the demo; pick another --user", you)
	}
	if err := protocol.ValidateID("user id", you); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "outpost-chat-demo-")
	if err != nil {
		return nil, err
	}
	d := &demo{Dir: dir, secret: []byte("outpost-chat-demo-secret")}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.Close())
		}
	}()
	if d.store, err = sqlitestore.Open(ctx, filepath.Join(dir, "server.db"), nil); err != nil {
		return d, err
	}
	if d.srv, err = server.New(server.Config{Store: d.store, Secret: d.secret, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		return d, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return d, err
	}
	d.hs = &http.Server{Handler: d.srv, ReadHeaderTimeout: 10 * time.Second}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.hs.Serve(ln)
	}()
	d.URL = "http://" + ln.Addr().String()

	// The friend and the bot talk over REST only; they need no store.
	friend, err := d.restClient(demoFriend)
	if err != nil {
		return d, err
	}
	defer friend.Close(ctx)
	if d.bot, err = d.restClient(demoBot); err != nil {
		return d, err
	}
	general, err := d.bot.CreateChannel(ctx, protocol.CreateChannelRequest{
		Type: "team", ID: "general", Name: "general", Members: []string{you, demoFriend, demoBot}})
	if err != nil {
		return d, fmt.Errorf("create channel: %w", err)
	}
	random, err := friend.CreateChannel(ctx, protocol.CreateChannelRequest{
		Type: "team", ID: "random", Name: "random", Members: []string{you, demoFriend}})
	if err != nil {
		return d, fmt.Errorf("create channel: %w", err)
	}
	for _, post := range []struct {
		c        *client.Client
		cid, txt string
	}{
		{friend, general.Channel.CID, "hi " + you + "! this chat keeps working offline."},
		{friend, general.Channel.CID, "press ctrl+o to drop the connection, send a few messages, then ctrl+o again."},
		{friend, random.Channel.CID, "nothing to see here, just a second channel for tab."},
	} {
		if err := d.post(ctx, post.c, post.cid, post.txt); err != nil {
			return d, err
		}
	}

	botCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(1)
	go d.runBot(botCtx, general.Channel.CID, botEvery)
	return d, nil
}

// Token mints a token for user, valid for a day.
func (d *demo) Token(user string) (string, error) {
	return token.Issue(d.secret, user, 24*time.Hour)
}

func (d *demo) restClient(user string) (*client.Client, error) {
	tok, err := d.Token(user)
	if err != nil {
		return nil, err
	}
	return client.New(client.Config{ServerURL: d.URL, UserID: user, Token: tok})
}

// post sends a message with a new id.
func (d *demo) post(ctx context.Context, c *client.Client, cid, text string) error {
	id := fmt.Sprintf("%s-%d", c.UserID(), time.Now().UnixNano())
	_, err := c.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: text}})
	if err != nil {
		return fmt.Errorf("%s posts: %w", c.UserID(), err)
	}
	return nil
}

// runBot posts a line every interval until ctx ends. A failed post is
// skipped: the demo goes on.
func (d *demo) runBot(ctx context.Context, cid string, every time.Duration) {
	defer d.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = d.post(pctx, d.bot, cid, demoBotLines[i%len(demoBotLines)])
		cancel()
	}
}

// Close stops the bot and the server and removes the demo's files. It is
// idempotent.
func (d *demo) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.close() })
	return d.closeErr
}

func (d *demo) close() error {
	if d.cancel != nil {
		d.cancel()
	}
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.hs != nil {
		errs = append(errs, d.hs.Shutdown(ctx))
	}
	if d.srv != nil {
		errs = append(errs, d.srv.Close())
	}
	d.wg.Wait()
	if d.bot != nil {
		errs = append(errs, d.bot.Close(ctx))
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
	}
	errs = append(errs, os.RemoveAll(d.Dir))
	return errors.Join(errs...)
}
