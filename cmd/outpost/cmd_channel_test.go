package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
)

// TestChannel_AliceAndBob: with shipped commands only, Alice creates a
// channel with Bob, both talk, and the other actions work, each with
// --json.
func TestChannel_AliceAndBob(t *testing.T) {
	url := startServer(t)
	alice, bob, carol := userEnv(t, url, "alice"), userEnv(t, url, "bob"), userEnv(t, url, "carol")

	r := cli(t, alice, "channel", "create", "bob", "--name", "Alice and Bob")
	wantOK(t, r)
	cid := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(cid, "messaging:") {
		t.Fatalf("create printed %q, want a messaging cid", cid)
	}
	// The channel is in Alice's local DB at once.
	r = cli(t, alice, "channels")
	wantOK(t, r)
	if !strings.Contains(r.stdout, cid) || !strings.Contains(r.stdout, "Alice and Bob") {
		t.Fatalf("alice's channels after create:\n%s", r.stdout)
	}

	wantOK(t, cli(t, alice, "send", cid, "hello bob"))
	wantOK(t, cli(t, bob, "sync"))
	r = cli(t, bob, "messages", cid)
	wantOK(t, r)
	if !strings.Contains(r.stdout, "hello bob") {
		t.Fatalf("bob's messages:\n%s", r.stdout)
	}
	wantOK(t, cli(t, bob, "send", cid, "hi alice"))
	wantOK(t, cli(t, alice, "sync"))
	if r = cli(t, alice, "messages", cid); !strings.Contains(r.stdout, "hi alice") {
		t.Fatalf("alice's messages:\n%s", r.stdout)
	}

	var out channelResult
	jsonRun := func(env map[string]string, args ...string) channelResult {
		t.Helper()
		r := cli(t, env, append(args, "--json")...)
		wantOK(t, r)
		var res channelResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%v --json: %v\n%s", args, err, r.stdout)
		}
		return res
	}
	out = jsonRun(alice, "channel", "create", "--type", "team", "--id", "ops", "carol")
	if out.Action != "create" || out.CID != "team:ops" || len(out.Users) != 1 || out.Users[0] != "carol" {
		t.Fatalf("create --json = %+v", out)
	}
	if out = jsonRun(alice, "channel", "add", "team:ops", "bob"); out.CID != "team:ops" || out.Action != "add" {
		t.Fatalf("add --json = %+v", out)
	}
	jsonRun(alice, "channel", "remove", "team:ops", "carol")
	jsonRun(alice, "channel", "update", "team:ops", "--name", "Ops")
	if r = cli(t, alice, "channels"); !strings.Contains(r.stdout, "Ops") {
		t.Fatalf("channels after update:\n%s", r.stdout)
	}
	jsonRun(bob, "channel", "hide", "team:ops")
	if r = cli(t, bob, "channels"); strings.Contains(r.stdout, "team:ops") {
		t.Fatalf("bob's channels after hide still list team:ops:\n%s", r.stdout)
	}
	if r = cli(t, bob, "channels", "--hidden"); !strings.Contains(lineWith(r.stdout, "team:ops"), "(hidden)") {
		t.Fatalf("channels --hidden after hide does not list team:ops as hidden:\n%s", r.stdout)
	}
	jsonRun(bob, "channel", "show", "team:ops")
	if r = cli(t, bob, "channels"); !strings.Contains(r.stdout, "team:ops") {
		t.Fatalf("bob's channels after show lack team:ops:\n%s", r.stdout)
	}
	jsonRun(bob, "channel", "leave", "team:ops")
	if r = cli(t, bob, "channels"); strings.Contains(r.stdout, "team:ops") {
		t.Fatalf("bob's channels after leave still list team:ops:\n%s", r.stdout)
	}

	// Refusals: not a member, a role that may not, the owner leaving.
	wantFail(t, cli(t, carol, "channel", "add", "team:ops", "carol"), exitError, "not a member")
	wantFail(t, cli(t, bob, "channel", "add", cid, "carol"), exitError, "may not add members")
	wantFail(t, cli(t, alice, "channel", "leave", cid), exitError, "may not remove the owner")
}

// TestChannel_BadInput: usage errors exit 2 before anything is opened.
func TestChannel_BadInput(t *testing.T) {
	env := userEnv(t, apitest.DeadURL(t), "alice")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"channel"}, "missing action"},
		{[]string{"channel", "open"}, "unknown action"},
		{[]string{"channel", "add"}, "missing CID"},
		{[]string{"channel", "add", "nocolon", "bob"}, "CID"},
		{[]string{"channel", "add", "messaging:x"}, "missing USER"},
		{[]string{"channel", "leave", "messaging:x", "bob"}, "unexpected argument"},
		{[]string{"channel", "create", "b c"}, "USER"},
		{[]string{"channel", "create", "--type", "a:b"}, "--type"},
		{[]string{"channel", "create", "--extra", "[1]"}, "JSON object"},
		{[]string{"channel", "update", "messaging:x"}, "--name"},
	} {
		wantFail(t, cli(t, env, tc.args...), exitUsage, tc.want)
	}
	if _, err := os.Stat(env["OUTPOST_DB"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a usage error left a DB behind: %v", err)
	}
}

// TestChannel_Offline: with the server unreachable, every action exits 3,
// says so, and leaves no DB behind.
func TestChannel_Offline(t *testing.T) {
	env := userEnv(t, apitest.DeadURL(t), "alice")
	for _, args := range [][]string{
		{"channel", "create", "bob"},
		{"channel", "add", "messaging:x", "bob"},
		{"channel", "hide", "messaging:x"},
		{"channel", "leave", "messaging:x", "--json"},
	} {
		wantFail(t, cli(t, env, append(args, "--timeout", "2s")...), exitOffline, "unreachable")
	}
	if _, err := os.Stat(env["OUTPOST_DB"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an offline channel command left a DB behind: %v", err)
	}
}

// TestChannel_Binary runs the built command: --help lists channel, and an
// unreachable server exits 3 for a script.
func TestChannel_Binary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "outpost")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "--help").Output()
	if err != nil || !strings.Contains(string(out), "\n  channel ") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	url := startServer(t)
	cmd := exec.CommandContext(ctx, bin, "channel", "create", "bob", "--json")
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "OUTPOST_USER=alice", "OUTPOST_TOKEN=" + mint(t, "alice")}
	cmd.Env = append(base, "OUTPOST_SERVER="+url, "OUTPOST_DB="+filepath.Join(t.TempDir(), "a.db"))
	out, err = cmd.Output()
	var res channelResult
	if err != nil || json.Unmarshal(out, &res) != nil || res.Action != "create" || res.CID == "" {
		t.Fatalf("channel create --json: %v\n%s", err, out)
	}
	cmd = exec.CommandContext(ctx, bin, "channel", "hide", res.CID)
	cmd.Env = append(base, "OUTPOST_SERVER="+apitest.DeadURL(t), "OUTPOST_DB="+filepath.Join(t.TempDir(), "b.db"))
	var ee *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &ee) || ee.ExitCode() != exitOffline {
		t.Fatalf("hide with the server down: %v, want exit %d", err, exitOffline)
	}
}

// lineWith returns the line of out that contains s, or "".
func lineWith(out, s string) string {
	for l := range strings.Lines(out) {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
