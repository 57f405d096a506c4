package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

// wantJSONError checks that stdout is exactly one JSON error object with
// the run's exit code and kind.
func wantJSONError(tb testing.TB, r result, code int, kind string) {
	tb.Helper()
	if r.code != code {
		tb.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	var je jsonError
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&je); err != nil {
		tb.Fatalf("stdout is not a JSON error object: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		tb.Errorf("stdout has more than the error object:\n%s", r.stdout)
	}
	if je.Error.ExitCode != code || je.Error.Kind != kind || je.Error.Message == "" {
		tb.Errorf("error object = %+v, want exit_code %d, kind %q and a message", je.Error, code, kind)
	}
	if !strings.Contains(r.stderr, je.Error.Message) {
		tb.Errorf("stderr %q lacks the message %q", r.stderr, je.Error.Message)
	}
}

// TestJSON_ErrorsOnStdout: a --json command that fails prints its error
// as a JSON object on stdout (for | jq), besides the line on stderr; a
// command without --json prints nothing on stdout.
func TestJSON_ErrorsOnStdout(t *testing.T) {
	url := startServer(t)
	env := userEnv(t, url, "alice")
	dead := with(env, "OUTPOST_SERVER", apitest.DeadURL(t))

	wantJSONError(t, cli(t, dead, "sync", "--json", "--timeout", "300ms"), exitOffline, "offline")
	wantJSONError(t, cli(t, env, "messages", "team:general", "--json"), exitDB, "db")
	wantJSONError(t, cli(t, env, "sync", "--json", "extra"), exitUsage, "usage")
	wantJSONError(t, cli(t, env, "sync", "--json", "--nope"), exitUsage, "usage")
	wantJSONError(t, cli(t, with(env, "OUTPOST_TOKEN", "garbage"), "sync", "--json"), exitAuth, "auth")
	wantJSONError(t, cli(t, env, "react", "team:general", "m1", "👍", "--json"), exitUsage, "usage")

	if r := cli(t, dead, "sync", "--timeout", "300ms"); r.code != exitOffline || r.stdout != "" {
		t.Errorf("plain sync offline: exit %d, stdout %q; want 3 and nothing on stdout", r.code, r.stdout)
	}

	// A refused write prints its own JSON outcome; no second document.
	cid := makeChannel(t, url, "alice", "general", "bob")
	r := cli(t, userEnv(t, url, "carol"), "send", cid, "not a member", "--json")
	if r.code != exitError {
		t.Fatalf("send by a non-member: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var res writeResult
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&res); err != nil || res.Status != "failed" || dec.More() {
		t.Errorf("refused send --json: %+v, %v; stdout:\n%s", res, err, r.stdout)
	}
}

// TestReact_EmojiSaysWhy: reaction types are ids (ASCII names such as
// "like"); an emoji is refused naming the whole character, not a byte of
// it, and what to use instead.
func TestReact_EmojiSaysWhy(t *testing.T) {
	url := startServer(t)
	env := userEnv(t, url, "alice")
	r := cli(t, env, "react", "team:general", "m1", "👍")
	wantFail(t, r, exitUsage, `'👍' at byte 0`)
	if !strings.Contains(r.stderr, "like") || strings.Contains(r.stderr, "ð") {
		t.Errorf("stderr = %q; want the emoji named whole and a name such as like suggested", r.stderr)
	}
}

// TestSend_OverTheTextLimit: a text over the server's limit is refused
// before it is queued, with the limit in the message; nothing is queued.
func TestSend_OverTheTextLimit(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general", "bob")
	env := userEnv(t, url, "alice")
	wantOK(t, cli(t, env, "sync"))
	long := strings.Repeat("a", protocol.MaxTextBytes+1)
	wantFail(t, cli(t, env, "send", cid, long), exitUsage, "over the limit of 65536 bytes")
	r := cli(t, env, "pending", "--json")
	wantOK(t, r)
	if !strings.Contains(r.stdout, `"pending": []`) {
		t.Errorf("pending after a refused send:\n%s", r.stdout)
	}
}

// TestSync_InterruptedExits130: SIGINT (the context ending) during a
// sync exits 130, as shells expect of an interrupted command.
func TestSync_InterruptedExits130(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: []byte(testSecret), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// The sync request is held until the test ends, so the sync is
	// surely in flight when the interrupt comes.
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == protocol.PathSync {
			select {
			case held <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(release); srv.Close(); ts.Close(); st.Close() })

	env := userEnv(t, ts.URL, "alice")
	for _, asJSON := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		args := []string{"sync"}
		if asJSON {
			args = append(args, "--json")
		}
		done := make(chan result, 1)
		go func() { done <- cliCtx(ctx, env, nil, nil, args...) }()
		select {
		case <-held:
		case <-time.After(15 * time.Second):
			cancel()
			t.Fatal("the sync request never reached the server")
		}
		cancel()
		var r result
		select {
		case r = <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("sync did not stop on the interrupt")
		}
		if asJSON {
			wantJSONError(t, r, exitInterrupted, "interrupted")
		} else {
			wantFail(t, r, exitInterrupted, "interrupted")
		}
	}
}
