package main

import (
	"strings"
	"testing"
)

// TestIdentity_CLI: a token of another user than --user exits 4 and
// writes nothing; a DB of another user exits 5.
func TestIdentity_CLI(t *testing.T) {
	url := startServer(t)
	makeChannel(t, url, "alice", "secret")
	bob := userEnv(t, url, "bob")
	aliceTok := mint(t, "alice")

	wantFail(t, cli(t, with(bob, "OUTPOST_TOKEN", aliceTok), "sync"), exitAuth, "the token is user alice's, not bob's")
	wantFail(t, cli(t, with(bob, "OUTPOST_TOKEN", aliceTok), "send", "team:secret", "as alice?"), exitAuth, "not bob's")
	if got := serverMessages(t, url, "alice", "team:secret"); len(got) != 0 {
		t.Fatalf("the server got %d messages sent as bob with alice's token", len(got))
	}

	alice := userEnv(t, url, "alice")
	wantOK(t, cli(t, alice, "sync"))
	wantFail(t, cli(t, with(bob, "OUTPOST_DB", alice["OUTPOST_DB"]), "sync"), exitDB, "alice")
}

// TestIdentity_CLISameServerOtherName: the same user reaching the same
// server by another name (localhost for 127.0.0.1) is not refused: sync
// and writes work through both.
func TestIdentity_CLISameServerOtherName(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "names")
	alice := userEnv(t, url, "alice")
	byName := with(alice, "OUTPOST_SERVER", strings.Replace(url, "127.0.0.1", "localhost", 1))
	wantOK(t, cli(t, byName, "sync"))
	wantOK(t, cli(t, byName, "send", cid, "through localhost"))
	wantOK(t, cli(t, alice, "send", cid, "through 127.0.0.1"))
	wantOK(t, cli(t, alice, "sync"))
	if got := serverMessages(t, url, "alice", cid); len(got) != 2 {
		t.Errorf("the server has %d messages, want 2", len(got))
	}
}

// TestIdentity_CLIAnotherServer: a DB bound to one server, pointed at
// another (a fresh database), exits 5 for what needs the server and
// sends nothing there; a write is still queued locally and reading
// commands still work.
func TestIdentity_CLIAnotherServer(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "mine")
	alice := userEnv(t, url, "alice")
	wantOK(t, cli(t, alice, "sync"))

	other := startServer(t)
	makeChannel(t, other, "alice", "mine")
	there := with(alice, "OUTPOST_SERVER", other)
	wantFail(t, cli(t, there, "sync"), exitDB, "not the server the DB holds the data of")
	wantFail(t, cli(t, there, "send", cid, "kept for my server"), exitDB, "the write stays queued in the local DB")
	if got := serverMessages(t, other, "alice", cid); len(got) != 0 {
		t.Errorf("the other server got %d messages", len(got))
	}
	pending := cli(t, there, "pending")
	wantOK(t, pending)
	if !strings.Contains(pending.stdout, "send-message  "+cid) {
		t.Errorf("pending = %q, want the queued write", pending.stdout)
	}
	wantOK(t, cli(t, there, "channels"))

	// Back on its own server, the queued write leaves.
	wantOK(t, cli(t, alice, "sync"))
	if got := serverMessages(t, url, "alice", cid); len(got) != 1 || got[0].Text != "kept for my server" {
		t.Errorf("the DB's own server has %v", got)
	}
}
