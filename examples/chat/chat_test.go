package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
	"go.uber.org/goleak"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// teatest.NewTestModel starts a goroutine that waits for SIGINT
		// to kill the program, and it never ends by design. It is the
		// only goroutine ignored here.
		goleak.IgnoreAnyFunction("github.com/charmbracelet/x/exp/teatest.NewTestModel.func2"),
	)
}

// teamWithBob makes the channel team:id, owned by alice with bob in it,
// and returns its cid.
func teamWithBob(t *testing.T, alice *outpost.Client, id string) string {
	t.Helper()
	cid, err := alice.CreateChannel(context.Background(), outpost.NewChannel{Type: "team", ID: id, Name: id, Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	return cid
}

// waitTimeout bounds every wait in these tests.
const waitTimeout = 15 * time.Second

var testSecret = []byte("chat-test-secret")

// startServer runs a real sync server on SQLite in a temp dir.
func startServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: testSecret,
		Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close(); st.Close() })
	return ts
}

// openClient opens user's SDK client on a real store file, tuned to notice
// a lost or returned server within a fraction of a second.
func openClient(t *testing.T, url, user string) *outpost.Client {
	t.Helper()
	tok, err := token.Issue(testSecret, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := outpost.Open(context.Background(), outpost.Config{
		ServerURL: url, UserID: user, Token: tok,
		DBPath: filepath.Join(t.TempDir(), user+".db"),
		Client: client.Config{MinReconnectDelay: 10 * time.Millisecond, MaxReconnectDelay: 100 * time.Millisecond,
			HealthCheckInterval: 100 * time.Millisecond},
		Sync: syncmanager.Options{RetryMinDelay: 10 * time.Millisecond, RetryMaxDelay: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// apiClient returns a REST client of the server's API for user, to ask the
// server itself what it holds.
func apiClient(t *testing.T, url, user string) *client.Client {
	t.Helper()
	tok, err := token.Issue(testSecret, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{ServerURL: url, UserID: user, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// proxy forwards TCP connections to a target. cut closes the listener and
// every connection, as a network that goes away would; restore listens on
// the same address again.
type proxy struct {
	target, addr string
	wg           sync.WaitGroup

	mu    sync.Mutex // guards the fields below
	ln    net.Listener
	conns map[net.Conn]bool
	down  bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln, p.down = ln, false
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				down.Close()
				continue
			}
			if !p.track(down, up) {
				continue
			}
			p.wg.Add(2)
			go p.pipe(up, down)
			go p.pipe(down, up)
		}
	}()
}

// track records a pair of connections, or closes them if the proxy was
// cut meanwhile.
func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		if p.down {
			c.Close()
			continue
		}
		p.conns[c] = true
	}
	return !p.down
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *proxy) cut() {
	p.mu.Lock()
	p.down = true
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// viewReq asks the running program for its current screen.
type viewReq chan string

// probe wraps the model so that a test can read the screen the program
// would draw, on the program's own goroutine, without a data race.
type probe struct{ tea.Model }

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if r, ok := msg.(viewReq); ok {
		r <- p.View()
		return p, nil
	}
	m, cmd := p.Model.Update(msg)
	return probe{m}, cmd
}

// waitScreen polls the program's screen until cond holds, and fails the
// test with the last screen if it does not within waitTimeout.
func waitScreen(t *testing.T, tm *teatest.TestModel, what string, cond func(screen string) bool) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var screen string
	for {
		r := make(viewReq, 1)
		tm.Send(r)
		select {
		case screen = <-r:
		case <-time.After(waitTimeout):
			t.Fatalf("%s: the program did not answer", what)
		}
		if cond(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s; last screen:\n%s", what, waitTimeout, screen)
		}
		<-tick.C
	}
}

// lineWith returns the screen's line that contains s, or "".
func lineWith(screen, s string) string {
	for l := range strings.Lines(screen) {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitTimeout)
		}
		<-tick.C
	}
}

// TestChat_OfflineSendDrainsOnReturn drives the real program headless as
// bob, over a real server whose connection to bob is cut and restored: a
// message typed offline shows as pending, and once the network is back it
// shows as sent, is on the server exactly once, and alice's message from
// meanwhile appears.
func TestChat_OfflineSendDrainsOnReturn(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := openClient(t, ts.URL, "alice")
	cid := teamWithBob(t, alice, "general")
	px := startProxy(t, strings.TrimPrefix(ts.URL, "http://"))
	bob := openClient(t, "http://"+px.addr, "bob")

	m := newModel(bob)
	tm := teatest.NewTestModel(t, probe{m}, teatest.WithInitialTermSize(120, 30))
	finished := false
	t.Cleanup(func() {
		if !finished {
			tm.Quit()
			tm.WaitFinished(t, teatest.WithFinalTimeout(waitTimeout))
		}
		m.close()
	})

	// What a terminal gets: the channel and the connection state.
	teatest.WaitFor(t, tm.Output(), func(out []byte) bool {
		return strings.Contains(string(out), "general") && strings.Contains(string(out), "● online")
	}, teatest.WithDuration(waitTimeout), teatest.WithCheckInterval(20*time.Millisecond))

	if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "live from alice"}); err != nil {
		t.Fatal(err)
	}
	waitScreen(t, tm, "alice's live message", func(s string) bool { return strings.Contains(s, "alice: live from alice") })

	px.cut()
	waitScreen(t, tm, "offline in the status bar", func(s string) bool { return strings.Contains(s, "○ offline") })

	tm.Type("written offline")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	screen := waitScreen(t, tm, "bob's message marked pending", func(s string) bool {
		return strings.Contains(lineWith(s, "bob: written offline"), pendingMark) && strings.Contains(s, "pending 1")
	})
	if strings.Contains(lineWith(screen, "> "), "written offline") {
		t.Errorf("the input line still holds the sent text:\n%s", screen)
	}

	// Alice writes while bob is away; the server has it, bob cannot yet.
	if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "meanwhile from alice"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's outbox drained", func() bool { return alice.Status().Pending == 0 })
	if s := waitScreen(t, tm, "screen", func(string) bool { return true }); strings.Contains(s, "meanwhile from alice") {
		t.Fatalf("bob sees alice's message while offline:\n%s", s)
	}

	px.restore(t)
	screen = waitScreen(t, tm, "bob's message sent and alice's message in", func(s string) bool {
		line := lineWith(s, "bob: written offline")
		return line != "" && !strings.Contains(line, pendingMark) &&
			strings.Contains(s, "alice: meanwhile from alice") &&
			strings.Contains(s, "● online") && strings.Contains(s, "pending 0")
	})
	if strings.Contains(screen, pendingMark) || strings.Contains(screen, failedMark) {
		t.Errorf("a mark is left on the screen:\n%s", screen)
	}

	resp, err := apiClient(t, ts.URL, "alice").QueryMessages(ctx, cid, client.MessagesQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	n := 0
	for _, msg := range resp.Messages {
		got = append(got, msg.UserID+": "+msg.Text)
		if msg.Text == "written offline" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("server has bob's message %d times, want 1; messages: %q", n, got)
	}

	// Esc quits; the program ends and the client closes cleanly.
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitTimeout))
	finished = true
	m.close()
	if err := bob.Close(context.Background()); err != nil {
		t.Errorf("bob.Close: %v", err)
	}
}

// TestChat_RefusedSendShowsFailed: a message written offline to a channel
// bob was removed from meanwhile is refused for good when he is back; the
// screen says so (the channel, which he left, goes from the list) and the
// write stays on the failed list with the server's reason.
func TestChat_RefusedSendShowsFailed(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := openClient(t, ts.URL, "alice")
	cid := teamWithBob(t, alice, "ops")
	px := startProxy(t, strings.TrimPrefix(ts.URL, "http://"))
	bob := openClient(t, "http://"+px.addr, "bob")
	m := newModel(bob)
	t.Cleanup(m.close)
	tm := teatest.NewTestModel(t, probe{m}, teatest.WithInitialTermSize(120, 30))
	waitScreen(t, tm, "the channel, online", func(s string) bool {
		return strings.Contains(s, "#ops") && strings.Contains(s, "● online")
	})

	px.cut()
	waitScreen(t, tm, "offline", func(s string) bool { return strings.Contains(s, "○ offline") })
	if err := alice.RemoveMembers(ctx, cid, "bob"); err != nil {
		t.Fatal(err)
	}
	tm.Type("too late")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitScreen(t, tm, "pending", func(s string) bool { return strings.Contains(s, "pending 1") })

	px.restore(t)
	waitScreen(t, tm, "the write failed and the channel gone", func(s string) bool {
		return strings.Contains(s, "failed 1") && strings.Contains(s, "pending 0") && !strings.Contains(s, "#ops")
	})
	failed, err := bob.FailedTasks(ctx)
	if err != nil || len(failed) != 1 || !strings.Contains(failed[0].Error, "not a member") {
		t.Fatalf("failed = %+v, %v; want the send, refused because bob is not a member", failed, err)
	}
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitTimeout))
}

// TestChat_TypedBurstIsText: text that reaches the terminal in one burst
// (a paste, tmux send-keys, a fast typist) is parsed by Bubble Tea into
// word-long key messages; words that name keys ("up", "down", "home")
// and letters the app might bind ("q") are text, stored whole. The bytes
// go through the program's real input parser, in one write.
func TestChat_TypedBurstIsText(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := openClient(t, ts.URL, "alice")
	cid := teamWithBob(t, alice, "general")
	bob := openClient(t, ts.URL, "bob")

	m := newModel(bob)
	in, typed := io.Pipe()
	p := tea.NewProgram(probe{m}, tea.WithInput(in), tea.WithOutput(io.Discard),
		tea.WithoutSignalHandler())
	done := make(chan error, 1)
	go func() { _, err := p.Run(); done <- err }()
	p.Send(tea.WindowSizeMsg{Width: 120, Height: 30})
	t.Cleanup(func() {
		p.Quit()
		typed.Close()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("the program did not end")
		}
		m.close()
	})
	screen := func() string {
		r := make(viewReq, 1)
		p.Send(r)
		select {
		case s := <-r:
			return s
		case <-time.After(waitTimeout):
			t.Fatal("the program did not answer")
			return ""
		}
	}
	waitFor(t, "the channel on screen", func() bool { return strings.Contains(screen(), "general") })

	const text = "going up and down, home and q"
	if _, err := typed.Write([]byte(text + "\r")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's message in his store", func() bool {
		msgs, err := bob.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: 10})
		return err == nil && len(msgs) == 1
	})
	msgs, err := bob.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: 10})
	if err != nil || len(msgs) != 1 || msgs[0].Text != text {
		t.Fatalf("stored %+v, %v; want one message %q", msgs, err, text)
	}
}
