package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testSecret = "cli-test-secret"

// startServer runs a real server on a real SQLite store over loopback.
func startServer(tb testing.TB) string {
	tb.Helper()
	url, _ := startPausableServer(tb)
	return url
}

// startPausableServer is startServer with a switch: while down is set,
// every connection is closed unanswered, as if the server were gone, and
// the URL (which a store is bound to) stays the same.
func startPausableServer(tb testing.TB) (url string, down *atomic.Bool) {
	tb.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: []byte(testSecret),
		Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	down = new(atomic.Bool)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		srv.ServeHTTP(w, r)
	}))
	tb.Cleanup(func() { srv.Close(); ts.Close(); st.Close() })
	return ts.URL, down
}

func mint(tb testing.TB, user string) string {
	tb.Helper()
	tok, err := token.Issue([]byte(testSecret), user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// sdkClient is a bare connected client, for setting up the server side
// and checking it, apart from the CLI.
func sdkClient(tb testing.TB, url, user string) *client.Client {
	tb.Helper()
	c, err := client.New(client.Config{ServerURL: url, UserID: user, Token: mint(tb, user),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// makeChannel creates team:ID owned by owner with the given members.
func makeChannel(tb testing.TB, url, owner, id string, members ...string) string {
	tb.Helper()
	c := sdkClient(tb, url, owner)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := c.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: id, Members: members})
	if err != nil {
		tb.Fatal(err)
	}
	return ch.Channel.CID
}

// serverMessages lists a channel's messages as the server has them.
func serverMessages(tb testing.TB, url, user, cid string) []protocol.Message {
	tb.Helper()
	c := sdkClient(tb, url, user)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.QueryMessages(ctx, cid, client.MessagesQuery{Limit: 200})
	if err != nil {
		tb.Fatal(err)
	}
	return resp.Messages
}

// result is one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the CLI in process with the given environment (and none of
// the test process's), bounded in time.
func cli(tb testing.TB, environ map[string]string, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cliCtx(ctx, environ, nil, nil, args...)
}

// cliIn is cli with stdin.
func cliIn(tb testing.TB, environ map[string]string, stdin string, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr logtest.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string { return environ[k] }}
	code := runEnv(ctx, args, e)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func cliCtx(ctx context.Context, environ map[string]string, stdout, stderr *logtest.Buffer, args ...string) result {
	if stdout == nil {
		stdout = &logtest.Buffer{}
	}
	if stderr == nil {
		stderr = &logtest.Buffer{}
	}
	e := &env{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr,
		getenv: func(k string) string { return environ[k] }}
	code := runEnv(ctx, args, e)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// userEnv is the environment of a user of the server at url with a DB in
// a fresh folder.
func userEnv(tb testing.TB, url, user string) map[string]string {
	tb.Helper()
	return map[string]string{
		"OUTPOST_SERVER": url, "OUTPOST_USER": user, "OUTPOST_TOKEN": mint(tb, user),
		"OUTPOST_DB": filepath.Join(tb.TempDir(), user+".db"),
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// wantOK fails the test unless the run exited 0.
func wantOK(tb testing.TB, r result) {
	tb.Helper()
	if r.code != 0 {
		tb.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// wantFail checks a failed run: the exit code, and one line on stderr
// that starts with "outpost: " and mentions want.
func wantFail(tb testing.TB, r result, code int, want string) {
	tb.Helper()
	if r.code != code {
		tb.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "outpost: ") {
		tb.Errorf("stderr is not one 'outpost: ...' line:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		tb.Errorf("stderr %q does not mention %q", r.stderr, want)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		tb.Errorf("stderr has a stack trace:\n%s", r.stderr)
	}
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}
