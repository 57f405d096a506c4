package main

import (
	"context"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/syncmanager"
)

func TestParseArgs(t *testing.T) {
	for _, tt := range []struct {
		args []string
		pos  []string
		wait string
		hard bool
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, "1s", false},
		{[]string{"--wait", "5s", "a", "b"}, []string{"a", "b"}, "5s", false},
		{[]string{"a", "--wait=5s", "b", "--hard"}, []string{"a", "b"}, "5s", true},
		{[]string{"a", "--", "-1 is a text", "--hard"}, []string{"a", "-1 is a text", "--hard"}, "1s", false},
		{[]string{"--hard", "--", "--wait"}, []string{"--wait"}, "1s", true},
		{[]string{}, nil, "1s", false},
	} {
		fs := newFlagSet("x")
		wait := fs.Duration("wait", time.Second, "")
		hard := fs.Bool("hard", false, "")
		pos, err := parseArgs(fs, tt.args)
		if err != nil || !slices.Equal(pos, tt.pos) || wait.String() != tt.wait || *hard != tt.hard {
			t.Errorf("parseArgs(%q) = %q, %v (wait %v, hard %v); want %q (wait %s, hard %v)",
				tt.args, pos, err, *wait, *hard, tt.pos, tt.wait, tt.hard)
		}
	}
	fs := newFlagSet("x")
	if _, err := parseArgs(fs, []string{"a", "--nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown flag after an argument: %v", err)
	}
	if _, err := parseArgs(newFlagSet("x"), []string{"-h"}); err != flag.ErrHelp {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestFlagsBeforeCommand(t *testing.T) {
	wantFail(t, cli(t, nil, "--db", "x.db", "channels"), exitUsage, "flags go after the command")
}

// TestProgress_PlainLines checks the non-terminal progress: a line per
// page, with events added up over sync runs (each restarts at zero).
func TestProgress_PlainLines(t *testing.T) {
	var out logtest.Buffer
	p := newProgress(&out)
	for _, s := range []syncmanager.Progress{
		{}, {Pages: 1, Events: 100}, {Pages: 1, Events: 100}, {Pages: 2, Events: 150},
		{}, {Pages: 1, Events: 7},
	} {
		p.update(syncmanager.Status{Syncing: true, Progress: s})
	}
	p.finish()
	want := "sync: page 1, 100 events applied\nsync: page 2, 150 events applied\nsync: page 1, 157 events applied\n"
	if got := out.String(); got != want {
		t.Errorf("progress lines:\n%s\nwant:\n%s", got, want)
	}
}

func TestWatch_OfflineKeepsTrying(t *testing.T) {
	env := userEnv(t, apitest.DeadURL(t), "alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	done := make(chan result, 1)
	go func() { done <- cliCtx(ctx, env, &stdout, &stderr, "watch", "--timeout", "100ms") }()
	waitFor(t, "the offline notice", func() bool { return strings.Contains(stderr.String(), "offline:") })
	select {
	case r := <-done:
		t.Fatalf("watch gave up while offline: exit %d, %s", r.code, r.stderr)
	default:
	}
	cancel()
	select {
	case r := <-done:
		if r.code != 0 {
			t.Errorf("exit %d, want 0: %s", r.code, r.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not stop")
	}
}
