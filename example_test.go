package outpost_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// Example opens Outpost for one user against a server, with a status
// listener registered in the Config (so it hears from the first status
// on) and a post-sync callback, sends a message and reads it back from
// the local store.
func Example() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()

	synced := make(chan struct{})
	var once sync.Once
	c, err := outpost.Open(ctx, outpost.Config{
		ServerURL: ex.URL,
		UserID:    "alice",
		Token:     ex.Token("alice"),
		DBPath:    ex.DBPath("alice"),
		OnStatus: func(st syncmanager.Status) {
			if st.Synced {
				once.Do(func() { close(synced) })
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	<-synced
	fmt.Println("synced: true")

	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "general"})
	ran := make(chan struct{})
	c.ScheduleSyncStatusChangeCallback("greet", func(context.Context) error {
		fmt.Println("post-sync callback ran")
		close(ran)
		return nil
	})
	w, _ := c.SendMessage(ctx, cid, outpost.NewMessage{Text: "hello, offline world"})
	_ = c.SyncNow(ctx) // drains the outbox, then syncs
	<-ran

	msg, _ := c.Message(ctx, w.MessageID)
	fmt.Println(msg.Text, "-", msg.Status == offlinedb.StatusSent)
	// Output:
	// synced: true
	// post-sync callback ran
	// hello, offline world - true
}

// exampleEnv is the plumbing the examples share: an in-process server
// and a temp dir for the Clients' stores.
type exampleEnv struct {
	URL     string // the server's
	dir     string
	secret  []byte
	stop    func() // stops the server
	clients []*outpost.Client
}

// startExample starts a server in process for an example. Close stops it.
func startExample() *exampleEnv {
	dir, err := os.MkdirTemp("", "outpost-example-")
	if err != nil {
		panic(err)
	}
	secret := []byte("example-secret")
	store, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "server.db"), nil)
	if err != nil {
		panic(err)
	}
	srv, err := server.New(server.Config{Store: store, Secret: secret, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	var once sync.Once
	return &exampleEnv{URL: ts.URL, dir: dir, secret: secret, stop: func() {
		once.Do(func() {
			srv.Close()
			ts.Close()
			store.Close()
		})
	}}
}

// Token returns a token for user, good for an hour.
func (e *exampleEnv) Token(user string) string {
	tok, err := token.Issue(e.secret, user, time.Hour)
	if err != nil {
		panic(err)
	}
	return tok
}

// DBPath returns where user's local store lives.
func (e *exampleEnv) DBPath(user string) string {
	return filepath.Join(e.dir, user+".db")
}

// Client opens user's Client on the server and waits for its first sync
// (Open does not wait for the network; these examples start online).
// Close closes it. Plumbing that fails panics: the example cannot run.
func (e *exampleEnv) Client(ctx context.Context, user string) *outpost.Client {
	c, err := outpost.Open(ctx, outpost.Config{ServerURL: e.URL, UserID: user, Token: e.Token(user),
		DBPath: e.DBPath(user)})
	if err != nil {
		panic(fmt.Sprintf("example: open %s: %v", user, err))
	}
	e.clients = append(e.clients, c)
	if err := c.WaitForFirstSync(ctx); err != nil {
		panic(fmt.Sprintf("example: %s's first sync: %v", user, err))
	}
	return c
}

// StopServer stops the server; the Clients stay open, offline.
func (e *exampleEnv) StopServer() { e.stop() }

// Close closes the Clients Client opened, last first, stops the server
// and removes the temp dir.
func (e *exampleEnv) Close() {
	for i := len(e.clients) - 1; i >= 0; i-- {
		e.clients[i].Close(context.Background())
	}
	e.stop()
	os.RemoveAll(e.dir)
}

// ExampleOpen opens a Client while the server cannot be reached: Open does
// not wait for the network, and reads and writes work at once, from and to
// the local store; the write waits in the outbox until a connection comes
// up.
func ExampleOpen() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	ex.StopServer() // the server is gone

	c, err := outpost.Open(ctx, outpost.Config{ServerURL: ex.URL, UserID: "erin", Token: ex.Token("erin"),
		DBPath: ex.DBPath("erin")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	fmt.Println("online:", c.Status().Online)
	w, _ := c.SendMessage(ctx, "team:notes", outpost.NewMessage{Text: "written offline"})
	msg, _ := c.Message(ctx, w.MessageID)
	fmt.Println(msg.Text+":", msg.Status)
	// Output:
	// online: false
	// written offline: pending
}

// ExampleClient_SendMessage queues a message: it is in the local store at
// once, pending, and sent once the outbox drains.
func ExampleClient_SendMessage() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	c := ex.Client(ctx, "frank") // opened and synced once, as in ExampleOpen
	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "general"})

	w, err := c.SendMessage(ctx, cid, outpost.NewMessage{Text: "hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("task is the message's send:", w.TaskID == w.MessageID)
	_ = c.WaitSynced(ctx)
	msg, _ := c.Message(ctx, w.MessageID)
	fmt.Println(msg.Text+":", msg.Status)
	// Output:
	// task is the message's send: true
	// hello: sent
}

// ExampleClient_Messages pages through a channel's messages, oldest first,
// from the local store.
func ExampleClient_Messages() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	c := ex.Client(ctx, "gina") // opened and synced once, as in ExampleOpen
	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "log"})
	for _, text := range []string{"one", "two", "three"} {
		c.SendMessage(ctx, cid, outpost.NewMessage{Text: text})
	}
	_ = c.WaitSynced(ctx)

	// The latest two, then the page before them.
	page, _ := c.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: 2})
	for _, m := range page {
		fmt.Println(m.Text)
	}
	older, _ := c.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: 2, Before: page[0].ID})
	for _, m := range older {
		fmt.Println("older:", m.Text)
	}
	// Output:
	// two
	// three
	// older: one
}

// ExampleClient_Channels lists the user's channels from the local store,
// most recent activity first, a page at a time.
func ExampleClient_Channels() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	c := ex.Client(ctx, "hank") // opened and synced once, as in ExampleOpen
	quiet, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "quiet"})
	busy, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "busy"})
	_ = c.WaitSynced(ctx)
	c.SendMessage(ctx, busy, outpost.NewMessage{Text: "news"})
	_ = c.WaitSynced(ctx)
	_ = quiet

	for q := (offlinedb.ChannelsQuery{Limit: 1}); ; {
		chans, next, err := c.Channels(ctx, q)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, ch := range chans {
			fmt.Println(ch.CID)
		}
		if next == "" {
			break
		}
		q.After = next
	}
	// Output:
	// team:busy
	// team:quiet
}

// ExampleClient_OnStatus hears every change of the status; the sync
// status is its Synced field: false while the connection is down, true
// after each successful catch-up.
func ExampleClient_OnStatus() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	c := ex.Client(ctx, "bob") // opened and synced once, as in ExampleOpen

	// Listeners run one at a time, in order: last needs no lock.
	changes := make(chan bool, 10)
	last := c.Status().Synced
	unsubscribe := c.OnStatus(func(st syncmanager.Status) {
		if st.Synced != last {
			last = st.Synced
			changes <- st.Synced
		}
	})
	defer unsubscribe()

	c.Disconnect(ctx) // the network goes away
	fmt.Println("synced:", <-changes)
	_ = c.Connect(ctx) // and comes back: the manager drains and syncs
	fmt.Println("synced:", <-changes)
	// Output:
	// synced: false
	// synced: true
}

// ExampleClient_OnChange redraws what changed: the listener runs after the
// change committed, so the store already holds what it is told about.
func ExampleClient_OnChange() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	c := ex.Client(ctx, "ivy") // opened and synced once, as in ExampleOpen
	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "news"})
	_ = c.WaitSynced(ctx)

	redrawn := make(chan string, 1)
	unsubscribe := c.OnChange(func(ch syncmanager.Change) {
		if ch.Kind.Has(syncmanager.ChangeWrite) && len(ch.Messages) > 0 {
			msg, _ := c.Message(ctx, ch.Messages[0])
			select {
			case redrawn <- msg.Text:
			default:
			}
		}
	})
	defer unsubscribe()
	c.SendMessage(ctx, cid, outpost.NewMessage{Text: "fresh"})
	fmt.Println("redraw:", <-redrawn)
	// Output:
	// redraw: fresh
}

// ExampleClient_Close closes a Client within a deadline: a last attempt to
// send the outbox, then everything stops; every method then returns
// ErrClosed.
func ExampleClient_Close() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	c := ex.Client(ctx, "jack") // opened and synced once, as in ExampleOpen

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println("close:", c.Close(cctx))
	_, err := c.SendMessage(ctx, "team:general", outpost.NewMessage{Text: "too late"})
	fmt.Println("closed:", errors.Is(err, outpost.ErrClosed))
	// Output:
	// close: <nil>
	// closed: true
}

// refusedEdit opens kate and leo on ex's server, in one channel, and has
// leo edit kate's message: the server refuses it for good, and it is on
// leo's failed list. It returns leo's Client.
func refusedEdit(ctx context.Context, ex *exampleEnv) *outpost.Client {
	kate := ex.Client(ctx, "kate")
	cid, _ := kate.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "shared", Members: []string{"leo"}})
	w, _ := kate.SendMessage(ctx, cid, outpost.NewMessage{Text: "kate's words"})
	_ = kate.WaitSynced(ctx)
	leo := ex.Client(ctx, "leo")
	leo.UpdateMessage(ctx, cid, w.MessageID, "leo's words") // not leo's to edit
	_ = leo.WaitSynced(ctx)
	return leo
}

// ExampleClient_RetryFailed puts a write the server refused back in the
// outbox; this one is refused again.
func ExampleClient_RetryFailed() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	leo := refusedEdit(ctx, ex) // leo's edit of kate's message, refused

	failed, _ := leo.FailedTasks(ctx)
	fmt.Println("failed:", len(failed), failed[0].Type)
	_ = leo.RetryFailed(ctx, failed[0].ID)
	_ = leo.WaitSynced(ctx)
	again, _ := leo.FailedTasks(ctx)
	fmt.Println("failed again:", len(again))
	// Output:
	// failed: 1 update-message
	// failed again: 1
}

// ExampleClient_DismissFailed forgets a write the server refused: the
// failed list empties and the message shows the server's version.
func ExampleClient_DismissFailed() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	leo := refusedEdit(ctx, ex) // leo's edit of kate's message, refused

	failed, _ := leo.FailedTasks(ctx)
	_ = leo.DismissFailed(ctx, failed[0].ID)
	msg, _ := leo.Message(ctx, failed[0].MessageID)
	failed, _ = leo.FailedTasks(ctx)
	fmt.Println("failed:", len(failed))
	fmt.Println(msg.Text)
	// Output:
	// failed: 0
	// kate's words
}

// ExampleClient_ScheduleSyncStatusChangeCallback schedules work for after
// the next successful sync, made while offline: it runs once, when the
// connection is back and the outbox has drained.
func ExampleClient_ScheduleSyncStatusChangeCallback() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	c := ex.Client(ctx, "carol") // opened and synced once, as in ExampleOpen
	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "notes"})

	c.Disconnect(ctx)
	w, _ := c.SendMessage(ctx, cid, outpost.NewMessage{Text: "written offline"})
	msg, _ := c.Message(ctx, w.MessageID)
	fmt.Println("before:", msg.Status)

	ran := make(chan struct{})
	c.ScheduleSyncStatusChangeCallback("after-catch-up", func(ctx context.Context) error {
		msg, _ := c.Message(ctx, w.MessageID)
		fmt.Println("after:", msg.Status)
		close(ran)
		return nil
	})
	_ = c.Connect(ctx)
	<-ran
	// Output:
	// before: pending
	// after: sent
}

// ExampleClient_WaitSynced writes offline and waits until the writes are
// on the server and the store has caught up.
func ExampleClient_WaitSynced() {
	ctx := context.Background()
	ex := startExample() // a server in process and a temp dir, for the example
	defer ex.Close()
	c := ex.Client(ctx, "dave") // opened and synced once, as in ExampleOpen
	cid, _ := c.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "later"})

	c.Disconnect(ctx)
	w, _ := c.SendMessage(ctx, cid, outpost.NewMessage{Text: "sent when back"})
	_ = c.Connect(ctx)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitSynced(wctx); err != nil {
		fmt.Println(err)
		return
	}
	msg, _ := c.Message(ctx, w.MessageID)
	fmt.Println(msg.Text+":", msg.Status)
	// Output:
	// sent when back: sent
}
