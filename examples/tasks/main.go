package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

// Task is a record of the "tasks" collection: its fields are the
// record's, through their json tags.
type Task struct {
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tasks:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	dir, err := os.MkdirTemp("", "outpost-tasks-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The server: embedded SQLite, free-form records (no rules), so the
	// default conflict rule holds: the later write in the log wins,
	// field by field.
	secret := []byte("tasks-secret")
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "server.db"), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
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

	open := func(user string) (*outpost.Client, *outpost.Collection[Task], error) {
		tok, err := token.Issue(secret, user, time.Hour)
		if err != nil {
			return nil, nil, err
		}
		c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: user, Token: tok,
			DBPath: filepath.Join(dir, user+".db"), ConnectTimeout: 5 * time.Second})
		if err != nil {
			return nil, nil, err
		}
		tasks, err := outpost.OpenCollection[Task](ctx, c, "tasks", outpost.CollectionOptions{})
		return c, tasks, err
	}
	alice, aTasks, err := open("alice")
	if err != nil {
		return err
	}
	defer alice.Close(ctx)
	cid, err := alice.CreateChannel(ctx, outpost.NewChannel{Type: "list", ID: "house", Members: []string{"bob"}})
	if err != nil {
		return err
	}
	for id, title := range map[string]string{"t1": "Buy milk", "t2": "Call the plumber"} {
		if _, err := aTasks.Create(ctx, cid, id, Task{Title: title}); err != nil {
			return err
		}
	}
	if err := alice.WaitSynced(ctx); err != nil {
		return err
	}
	bob, bTasks, err := open("bob")
	if err != nil {
		return err
	}
	defer bob.Close(ctx)
	if err := bob.WaitSynced(ctx); err != nil {
		return err
	}
	show := func(who string, tasks *outpost.Collection[Task]) {
		items, _, err := tasks.List(ctx, outpost.ListQuery{CID: cid})
		if err != nil {
			say("  [%s] %v", who, err)
		}
		for _, it := range items {
			state := "synced"
			switch {
			case it.Pending > 0:
				state = "pending"
			case it.Failed > 0:
				state = "refused"
			}
			say("  [%s] %s %-22q done=%-5v v%d %s", who, it.ID, it.Value.Title, it.Value.Done, it.Version, state)
		}
	}
	say("alice made %s with bob in it, and two tasks; bob's new device got them:", cid)
	show("bob", bTasks)

	say("")
	say("alice goes offline and marks t1 done; bob renames t1 online; both rename t2")
	if err := alice.Disconnect(ctx); err != nil {
		return err
	}
	if _, err := aTasks.Patch(ctx, cid, "t1", outpost.Patch{Set: map[string]any{"done": true}}); err != nil {
		return err
	}
	if _, err := bTasks.Patch(ctx, cid, "t1", outpost.Patch{Set: map[string]any{"title": "Buy oat milk"}}); err != nil {
		return err
	}
	if _, err := bTasks.Patch(ctx, cid, "t2", outpost.Patch{Set: map[string]any{"title": "Call Sam the plumber"}}); err != nil {
		return err
	}
	if _, err := aTasks.Patch(ctx, cid, "t2", outpost.Patch{Set: map[string]any{"title": "Plumber: Tuesday 9am"}}); err != nil {
		return err
	}
	if err := bob.WaitSynced(ctx); err != nil {
		return err
	}
	show("alice, offline", aTasks)
	show("bob", bTasks)

	say("")
	say("alice comes back: her outbox drains, then sync brings bob's writes")
	if err := alice.Connect(ctx); err != nil {
		return err
	}
	if err := alice.WaitSynced(ctx); err != nil {
		return err
	}
	if err := bob.WaitSynced(ctx); err != nil {
		return err
	}
	show("alice", aTasks)
	show("bob", bTasks)
	say("")
	say("t1: two patches of different fields both survive: the new title, done.")
	say("t2: the same field, the collection's conflict rule decides: by default the later")
	say("    write in the channel's log wins (alice's, sent when she came back); a collection")
	say("    with the \"refuse\" rule would refuse it, on alice's failed list with both titles.")
	return nil
}
