package main

import "testing"

// TestIdentity_CLI: a token of another user than --user exits 4 and
// writes nothing; a DB of another user or server exits 5.
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
	other := startServer(t)
	wantFail(t, cli(t, with(alice, "OUTPOST_SERVER", other), "sync"), exitDB, "server")
}
