package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

func TestHistory_OlderPagesThenSyncBringsAll(t *testing.T) {
	const n = 80
	url := startServer(t)
	cid := makeChannel(t, url, "bob", "long", "alice")
	bob := sdkClient(t, url, "bob")
	for i := range n {
		id := fmt.Sprintf("h%03d", i)
		if _, err := bob.SendMessage(context.Background(), cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: id}}); err != nil {
			t.Fatal(err)
		}
	}
	env := userEnv(t, url, "alice")
	shown := func() int {
		t.Helper()
		r := cli(t, env, "messages", cid, "--limit", "0")
		wantOK(t, r)
		return strings.Count(r.stdout, "\n")
	}

	// A fresh DB: the channel's state (the newest 50), then 10 older.
	r := cli(t, env, "history", cid, "--older", "10", "--json")
	wantOK(t, r)
	var hj historyJSON
	if err := json.Unmarshal([]byte(r.stdout), &hj); err != nil {
		t.Fatal(err)
	}
	if hj.Loaded != 10 || hj.Held != 60 || hj.Complete {
		t.Fatalf("history --older 10 = %+v, want 10 loaded, 60 held, more on the server", hj)
	}
	if got := shown(); got != 60 {
		t.Fatalf("messages --limit 0 shows %d, want 60", got)
	}
	if r := cli(t, env, "messages", cid, "--limit", "5"); strings.Count(r.stdout, "\n") != 5 {
		t.Errorf("messages --limit 5 shows:\n%s", r.stdout)
	}
	// sync brings the whole history.
	wantOK(t, cli(t, env, "sync"))
	if got := shown(); got != n {
		t.Fatalf("after sync, messages --limit 0 shows %d, want all %d", got, n)
	}
	r = cli(t, env, "history", cid)
	wantOK(t, r)
	if !strings.Contains(r.stdout, "loaded 0 older messages") || !strings.Contains(r.stdout, "the whole history") {
		t.Errorf("history at the start = %q", r.stdout)
	}
	if r := cli(t, env, "history", cid, "--older", "0"); r.code != exitUsage {
		t.Errorf("--older 0: exit %d, want %d", r.code, exitUsage)
	}
	if r := cli(t, env, "messages", cid, "--limit", "-1"); r.code != exitUsage {
		t.Errorf("--limit -1: exit %d, want %d", r.code, exitUsage)
	}
}
