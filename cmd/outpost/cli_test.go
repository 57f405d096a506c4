package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/token"
)

func TestToken(t *testing.T) {
	url := startServer(t)

	r := cli(t, map[string]string{"OUTPOST_SECRET": testSecret}, "token", "--user", "alice", "--ttl", "1h")
	wantOK(t, r)
	tok := strings.TrimSpace(r.stdout)
	if user, err := token.Verify([]byte(testSecret), tok, time.Now()); err != nil || user != "alice" {
		t.Fatalf("Verify = %q, %v; want alice", user, err)
	}
	// The server takes it: a status probe with it is online.
	env := userEnv(t, url, "alice")
	env["OUTPOST_TOKEN"] = tok
	wantOK(t, cli(t, env, "sync"))
	r = cli(t, env, "status", "--json")
	wantOK(t, r)
	var st statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || !st.Checked || !st.Online {
		t.Fatalf("status with a minted token = %+v, %v; want online", st, err)
	}

	// The flag wins over the environment; --json has stable names.
	r = cli(t, map[string]string{"OUTPOST_SECRET": "other", "OUTPOST_USER": "bob"},
		"token", "--secret", testSecret, "--json")
	wantOK(t, r)
	var out struct {
		Token     string     `json:"token"`
		User      string     `json:"user"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if user, err := token.Verify([]byte(testSecret), out.Token, time.Now()); err != nil || user != "bob" || out.User != "bob" {
		t.Errorf("--json token: user %q, %v; want bob", user, err)
	}
	if out.ExpiresAt == nil || out.ExpiresAt.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("expires_at = %v, want about 24h from now (the default ttl)", out.ExpiresAt)
	}

	wantFail(t, cli(t, nil, "token", "--user", "alice"), exitUsage, "no secret")
	wantFail(t, cli(t, map[string]string{"OUTPOST_SECRET": "s"}, "token"), exitUsage, "no user")
	wantFail(t, cli(t, map[string]string{"OUTPOST_SECRET": "s"}, "token", "--user", "a", "--ttl", "soon"), exitUsage, "--ttl")
}

func TestSend_Online(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general", "bob")
	env := userEnv(t, url, "alice")

	r := cli(t, env, "send", cid, "hello from the cli")
	wantOK(t, r)
	id := strings.TrimSpace(r.stdout)
	if strings.TrimSpace(r.stderr) != "sent" {
		t.Errorf("stderr = %q, want sent", r.stderr)
	}
	msgs := serverMessages(t, url, "bob", cid)
	if len(msgs) != 1 || msgs[0].ID != id || msgs[0].Text != "hello from the cli" || msgs[0].UserID != "alice" {
		t.Fatalf("server has %+v, want the one message %s", msgs, id)
	}
	// A text of - comes from stdin.
	r = cliIn(t, env, "line one\nline two\n", "send", cid, "-")
	wantOK(t, r)
	if msgs := serverMessages(t, url, "bob", cid); len(msgs) != 2 || msgs[1].Text != "line one\nline two" {
		t.Errorf("send from stdin: server has %+v", msgs)
	}
	// Flags after the arguments work too, and --json tells the outcome.
	r = cli(t, env, "send", cid, "second", "--json", "--wait", "5s")
	wantOK(t, r)
	var res writeResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "sent" || !res.Online || res.MessageID == "" || res.Command != "send" {
		t.Errorf("send --json = %+v, want sent online", res)
	}

	// The local DB has both, as sent; readable without a server or token.
	local := map[string]string{"OUTPOST_DB": env["OUTPOST_DB"]}
	r = cli(t, local, "messages", cid, "--json")
	wantOK(t, r)
	var got struct {
		CID      string        `json:"cid"`
		Messages []messageJSON `json:"messages"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.CID != cid || len(got.Messages) != 3 || got.Messages[0].ID != id || got.Messages[0].Status != "sent" ||
		got.Messages[2].Text != "second" {
		t.Errorf("messages --json = %+v", got)
	}
	r = cli(t, local, "messages", cid, "--limit", "1")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "alice: second") || strings.Contains(r.stdout, "hello from the cli") {
		t.Errorf("messages --limit 1 =\n%s", r.stdout)
	}
}

func TestSend_OfflineThenSyncDrainsOnce(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general")
	env := userEnv(t, apitest.DeadURL(t), "alice")
	env["OUTPOST_TOKEN"] = mint(t, "alice")

	r := cli(t, env, "send", "--timeout", "200ms", cid, "written on a plane")
	wantOK(t, r)
	id := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, "queued (offline): will be sent when online") {
		t.Errorf("stderr = %q, want the queued (offline) line", r.stderr)
	}

	// Offline reads see it as pending.
	r = cli(t, env, "pending", "--json")
	wantOK(t, r)
	var pend struct {
		User    string     `json:"user"`
		Pending []taskJSON `json:"pending"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &pend); err != nil {
		t.Fatal(err)
	}
	if pend.User != "alice" || len(pend.Pending) != 1 || pend.Pending[0].MessageID != id || pend.Pending[0].Type != "send-message" {
		t.Fatalf("pending --json = %+v, want the one send of %s", pend, id)
	}
	r = cli(t, env, "pending")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "send-message") || !strings.Contains(r.stdout, id) {
		t.Errorf("pending =\n%s", r.stdout)
	}
	r = cli(t, env, "messages", cid)
	wantOK(t, r)
	if !strings.Contains(r.stdout, "written on a plane") || !strings.Contains(r.stdout, "[pending]") {
		t.Errorf("messages offline =\n%s", r.stdout)
	}
	r = cli(t, env, "status", "--json", "--timeout", "200ms")
	wantOK(t, r)
	var st statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Checked || st.Online || st.Pending != 1 || st.Failed != 0 || st.LastError == "" || st.LastSyncedAt != nil {
		t.Errorf("status offline = %+v", st)
	}
	// sync needs the server: exit 3, and the outbox keeps the write.
	wantFail(t, cli(t, env, "sync", "--timeout", "200ms"), exitOffline, "unreachable")

	// The server is up: sync drains it, once, however often it runs.
	env["OUTPOST_SERVER"] = url
	r = cli(t, env, "sync")
	wantOK(t, r)
	if !strings.Contains(r.stdout, cid+" (new): 1 messages") || !strings.Contains(r.stdout, "1 sent, 0 pending, 0 failed") {
		t.Errorf("sync =\n%s", r.stdout)
	}
	r = cli(t, env, "sync", "--json")
	wantOK(t, r)
	var sj syncJSON
	if err := json.Unmarshal([]byte(r.stdout), &sj); err != nil {
		t.Fatal(err)
	}
	if sj.Sent != 0 || sj.Pending != 0 || sj.Failed != 0 || sj.LastSyncedAt == nil || len(sj.Channels) != 0 {
		t.Errorf("second sync --json = %+v, want nothing new and an empty outbox", sj)
	}
	msgs := serverMessages(t, url, "alice", cid)
	if len(msgs) != 1 || msgs[0].ID != id || msgs[0].Text != "written on a plane" {
		t.Fatalf("server has %+v, want exactly the one queued message", msgs)
	}
	r = cli(t, env, "messages", cid, "--json")
	wantOK(t, r)
	if !strings.Contains(r.stdout, `"status": "sent"`) {
		t.Errorf("after sync the message is not sent:\n%s", r.stdout)
	}
}

func TestSync_ReportsWhatChanged(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "bob", "news", "alice")
	env := userEnv(t, url, "alice")
	wantOK(t, cli(t, env, "sync"))

	bob := with(userEnv(t, url, "bob"))
	for _, text := range []string{"one", "two", "three"} {
		wantOK(t, cli(t, bob, "send", cid, text))
	}
	r := cli(t, env, "sync", "--json")
	wantOK(t, r)
	var sj syncJSON
	if err := json.Unmarshal([]byte(r.stdout), &sj); err != nil {
		t.Fatal(err)
	}
	if len(sj.Channels) != 1 || sj.Channels[0].CID != cid || sj.Channels[0].NewMessages != 3 ||
		sj.Channels[0].Messages != 3 || sj.Channels[0].Events < 3 || sj.Channels[0].New {
		t.Fatalf("sync --json = %+v, want 3 new messages in %s", sj, cid)
	}
	// Not a terminal: progress is plain lines, no bar's control codes.
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\x1b") {
		t.Errorf("progress on a non-terminal has control codes: %q", r.stderr)
	}

	r = cli(t, env, "channels", "--json")
	wantOK(t, r)
	var chans struct {
		User     string        `json:"user"`
		Channels []channelJSON `json:"channels"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &chans); err != nil {
		t.Fatal(err)
	}
	if chans.User != "alice" || len(chans.Channels) != 1 || chans.Channels[0].CID != cid ||
		chans.Channels[0].MemberCount != 2 || chans.Channels[0].Unread != 3 || chans.Channels[0].LastMessageAt == nil {
		t.Errorf("channels --json = %+v", chans)
	}
	r = cli(t, map[string]string{"OUTPOST_DB": env["OUTPOST_DB"]}, "channels")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "CID") || !strings.Contains(r.stdout, cid) {
		t.Errorf("channels =\n%s", r.stdout)
	}
}

func TestEditDeleteReact(t *testing.T) {
	url, down := startPausableServer(t)
	cid := makeChannel(t, url, "alice", "general")
	env := userEnv(t, url, "alice")
	r := cli(t, env, "send", cid, "frist")
	wantOK(t, r)
	id := strings.TrimSpace(r.stdout)

	wantOK(t, cli(t, env, "edit", cid, id, "first"))
	wantOK(t, cli(t, env, "react", cid, id, "like"))
	msgs := serverMessages(t, url, "alice", cid)
	if len(msgs) != 1 || msgs[0].Text != "first" || msgs[0].ReactionCounts["like"] != 1 {
		t.Fatalf("server after edit and react: %+v", msgs)
	}
	r = cli(t, env, "messages", cid)
	wantOK(t, r)
	if !strings.Contains(r.stdout, "alice: first  (like:1)") {
		t.Errorf("messages =\n%s", r.stdout)
	}

	// Offline, an edit is queued and sent by the next online command.
	down.Store(true)
	r = cli(t, env, "edit", "--timeout", "200ms", cid, id, "first!")
	down.Store(false)
	wantOK(t, r)
	if !strings.Contains(r.stderr, "queued (offline)") {
		t.Errorf("offline edit stderr = %q", r.stderr)
	}
	wantOK(t, cli(t, env, "delete", cid, id, "--hard"))
	if msgs := serverMessages(t, url, "alice", cid); len(msgs) != 0 {
		t.Errorf("server after the hard delete: %+v, want none", msgs)
	}
	r = cli(t, env, "pending", "--json")
	wantOK(t, r)
	if !strings.Contains(r.stdout, `"pending": []`) {
		t.Errorf("outbox not empty after the delete went through:\n%s", r.stdout)
	}
}

func TestFailedWrite(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "bob", "private") // alice is no member
	env := userEnv(t, url, "alice")

	r := cli(t, env, "send", cid, "let me in")
	wantFail(t, r, exitError, "refused by the server")
	id := strings.TrimSpace(r.stdout)

	r = cli(t, env, "failed", "--json")
	wantOK(t, r)
	var f struct {
		Failed []taskJSON `json:"failed"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Failed) != 1 || f.Failed[0].MessageID != id || f.Failed[0].Error == "" || f.Failed[0].FailedAt == nil ||
		f.Failed[0].ErrorCode != protocol.CodeNotAllowed && f.Failed[0].ErrorCode != protocol.CodeNotFound {
		t.Fatalf("failed --json = %+v", f)
	}
	// An edit of a message the server does not have is refused too.
	own := makeChannel(t, url, "alice", "own")
	wantFail(t, cli(t, env, "edit", own, "no-such-message", "x"), exitError, "refused by the server")

	r = cli(t, env, "failed")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "send-message") || !strings.Contains(r.stdout, id) {
		t.Errorf("failed =\n%s", r.stdout)
	}
	r = cli(t, env, "status")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "failed:") || !strings.Contains(r.stdout, "online:") {
		t.Errorf("status =\n%s", r.stdout)
	}
	r = cli(t, with(env, "OUTPOST_SERVER", ""), "status", "--json")
	wantOK(t, r)
	var st statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Checked || st.Online || st.Failed != 2 || st.Pending != 0 || st.LastSyncedAt == nil || st.User != "alice" {
		t.Errorf("status without a server = %+v", st)
	}

	// Retry: once bob adds alice, the refused send goes through.
	bob := sdkClient(t, url, "bob")
	if _, err := bob.AddMembers(context.Background(), cid, []string{"alice"}, client.IdempotencyKey("add-alice")); err != nil {
		t.Fatal(err)
	}
	r = cli(t, env, "retry", id)
	wantOK(t, r)
	if !strings.Contains(r.stderr, "sent") {
		t.Errorf("retry stderr = %q, want sent", r.stderr)
	}
	if msgs := serverMessages(t, url, "bob", cid); len(msgs) != 1 || msgs[0].ID != id {
		t.Errorf("server after the retry: %+v", msgs)
	}
	// Dismiss: the refused edit leaves the failed list.
	r = cli(t, env, "failed", "--json")
	wantOK(t, r)
	f.Failed = nil
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil || len(f.Failed) != 1 {
		t.Fatalf("failed after the retry = %+v, %v", f, err)
	}
	wantOK(t, cli(t, env, "dismiss", f.Failed[0].ID))
	if r = cli(t, env, "failed", "--json"); !strings.Contains(r.stdout, `"failed": []`) {
		t.Errorf("failed after dismiss:\n%s", r.stdout)
	}
	wantFail(t, cli(t, env, "dismiss", "nope"), exitError, "no failed write nope")
}

func TestWatch(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general", "bob")
	env := userEnv(t, url, "alice")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	done := make(chan result, 1)
	go func() { done <- cliCtx(ctx, env, &stdout, &stderr, "watch") }()
	waitFor(t, "watch to connect", func() bool { return strings.Contains(stderr.String(), "watching") })

	wantOK(t, cli(t, userEnv(t, url, "bob"), "send", cid, "hi alice"))
	waitFor(t, "watch to print bob's message", func() bool {
		return strings.Contains(stdout.String(), "message.new "+cid) && strings.Contains(stdout.String(), "bob: hi alice")
	})
	if !strings.Contains(stdout.String(), "status: online=true") {
		t.Errorf("watch printed no status change:\n%s", stdout.String())
	}
	cancel()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Errorf("watch exit %d, want 0; stderr: %s", r.code, r.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not stop when its context ended")
	}
}

func TestWatch_JSON(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general", "bob")
	env := userEnv(t, url, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	done := make(chan result, 1)
	go func() { done <- cliCtx(ctx, env, &stdout, &stderr, "watch", "--json") }()
	waitFor(t, "watch to connect", func() bool { return strings.Contains(stderr.String(), "watching") })
	wantOK(t, cli(t, userEnv(t, url, "bob"), "send", cid, "json please"))
	waitFor(t, "the event line", func() bool { return strings.Contains(stdout.String(), "json please") })
	cancel()
	if r := <-done; r.code != 0 {
		t.Fatalf("watch exit %d: %s", r.code, r.stderr)
	}
	var sawEvent, sawStatus bool
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var v struct {
			Kind   string         `json:"kind"`
			Event  protocol.Event `json:"event"`
			Online bool           `json:"online"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		switch v.Kind {
		case "event":
			sawEvent = sawEvent || v.Event.Message != nil && v.Event.Message.Text == "json please"
		case "status":
			sawStatus = sawStatus || v.Online
		default:
			t.Errorf("line %q has kind %q", line, v.Kind)
		}
	}
	if !sawEvent || !sawStatus {
		t.Errorf("event %v, online status %v; output:\n%s", sawEvent, sawStatus, stdout.String())
	}
}

func TestHelp(t *testing.T) {
	r := cli(t, nil, "--help")
	wantOK(t, r)
	for _, c := range commands {
		if !strings.Contains(r.stdout, "\n  "+c.name+" ") {
			t.Errorf("--help does not list %s", c.name)
		}
	}
	for _, want := range []string{"EXIT CODES", "\n  0 ", "\n  1 ", "\n  2 ", "\n  3 ", "\n  4 ", "\n  5 ",
		"OUTPOST_SERVER", "OUTPOST_USER", "OUTPOST_TOKEN", "OUTPOST_DB", "OUTPOST_SECRET"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, c := range commands {
		r := cli(t, nil, "help", c.name)
		wantOK(t, r)
		if !strings.Contains(r.stdout, "usage: outpost "+c.name) || !strings.Contains(r.stdout, "EXIT CODES") {
			t.Errorf("help %s =\n%s", c.name, r.stdout)
		}
		if r2 := cli(t, nil, c.name, "--help"); r2.code != 0 || r2.stdout != r.stdout {
			t.Errorf("%s --help differs from help %s (exit %d)", c.name, c.name, r2.code)
		}
	}
	if r := cli(t, nil, "help", "send"); !strings.Contains(r.stdout, "--wait") || !strings.Contains(r.stdout, "queued (offline)") {
		t.Errorf("help send lacks its flags or the offline story:\n%s", r.stdout)
	}
	wantFail(t, cli(t, nil, "help", "nope"), exitUsage, "unknown command")
	if r := cli(t, nil); r.code != exitUsage || !strings.Contains(r.stderr, "COMMANDS") {
		t.Errorf("no arguments: exit %d, stderr %q; want 2 and the usage", r.code, r.stderr)
	}
}

// TestOffline_EditFoldsIntoQueuedSend: an edit of a message still in the
// outbox changes the queued send; the server sees one message, edited.
func TestOffline_EditFoldsIntoQueuedSend(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general")
	env := userEnv(t, url, "alice")
	off := with(env, "OUTPOST_SERVER", apitest.DeadURL(t))
	r := cli(t, off, "send", "--timeout", "100ms", cid, "draft")
	wantOK(t, r)
	id := strings.TrimSpace(r.stdout)
	r = cli(t, off, "edit", "--timeout", "100ms", "--json", cid, id, "final")
	wantOK(t, r)
	var res writeResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != "queued" || res.Online || res.MessageID != id {
		t.Errorf("offline edit --json = %+v", res)
	}
	r = cli(t, env, "pending", "--json")
	wantOK(t, r)
	if strings.Count(r.stdout, `"type": "send-message"`) != 1 || !strings.Contains(r.stdout, "final") {
		t.Errorf("outbox after the folded edit:\n%s", r.stdout)
	}
	wantOK(t, cli(t, env, "sync"))
	msgs := serverMessages(t, url, "alice", cid)
	if len(msgs) != 1 || msgs[0].ID != id || msgs[0].Text != "final" {
		t.Errorf("server has %+v, want %s with text final", msgs, id)
	}
}

// TestWatch_PrintsWhatItCaughtUpOn: messages posted while alice was not
// watching reach her store by the sync watch starts with (as after any
// reconnect), and watch prints them, not only the live events after it.
func TestWatch_PrintsWhatItCaughtUpOn(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general", "bob")
	env := userEnv(t, url, "alice")
	wantOK(t, cli(t, env, "sync")) // alice's DB is up to date
	bob := userEnv(t, url, "bob")
	for _, asJSON := range []bool{false, true} {
		// Each watch catches up on what bob sent since the last one.
		wantOK(t, cli(t, bob, "send", cid, "while you were away"))
		wantOK(t, cli(t, bob, "send", cid, "and another"))
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr logtest.Buffer
		done := make(chan result, 1)
		args := []string{"watch"}
		if asJSON {
			args = append(args, "--json")
		}
		go func() { done <- cliCtx(ctx, env, &stdout, &stderr, args...) }()
		waitFor(t, "watch to print what it caught up on", func() bool {
			return strings.Contains(stdout.String(), "and another")
		})
		cancel()
		if r := <-done; r.code != 0 {
			t.Fatalf("watch exit %d: %s", r.code, r.stderr)
		}
		out := stdout.String()
		if !asJSON {
			first := strings.Index(out, "caught up "+cid)
			if first < 0 || !strings.Contains(out, "bob: while you were away") ||
				strings.Index(out, "while you were away") > strings.Index(out, "and another") {
				t.Fatalf("watch output lacks the caught-up messages in order:\n%s", out)
			}
			continue
		}
		var texts []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var v struct {
				Kind    string `json:"kind"`
				Message *struct {
					Text string `json:"text"`
				} `json:"message"`
			}
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("line %q is not JSON: %v", line, err)
			}
			if v.Kind == "caught_up" && v.Message != nil {
				texts = append(texts, v.Message.Text)
			}
		}
		if strings.Join(texts, "|") != "while you were away|and another" {
			t.Errorf("caught_up messages = %q; output:\n%s", texts, out)
		}
	}
}

// TestToken_WebPageHint: the command the web page's sign-in form shows
// mints a token.
func TestToken_WebPageHint(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "server", "web", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\(outpost (token[^)]*)\)`).FindSubmatch(page)
	if m == nil {
		t.Fatal("the web page shows no outpost token command")
	}
	args := strings.Fields(string(m[1]))
	r := cli(t, map[string]string{"OUTPOST_SECRET": testSecret}, args...)
	wantOK(t, r)
	if _, err := token.Verify([]byte(testSecret), strings.TrimSpace(r.stdout), time.Now()); err != nil {
		t.Fatalf("outpost %s printed %q, not a token: %v", m[1], r.stdout, err)
	}
}
