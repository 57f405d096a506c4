package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

func TestParseArgs(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "flags", args: []string{"--server", "http://s", "--user", "bob", "--token", "t", "--db", "b.db"},
			want: config{server: "http://s", user: "bob", token: "t", db: "b.db"}},
		{name: "env", env: map[string]string{"OUTPOST_SERVER": "http://s", "OUTPOST_USER": "bob", "OUTPOST_TOKEN": "t", "OUTPOST_DB": "e.db"},
			want: config{server: "http://s", user: "bob", token: "t", db: "e.db"}},
		{name: "flag beats env", args: []string{"--user", "carol"}, env: map[string]string{"OUTPOST_SERVER": "http://s", "OUTPOST_USER": "bob", "OUTPOST_TOKEN": "t"},
			want: config{server: "http://s", user: "carol", token: "t", db: "outpost-chat-carol.db"}},
		{name: "demo", args: []string{"--demo"}, want: config{demo: true, user: "alice"}},
		{name: "demo as someone", args: []string{"--demo", "--user", "dave"}, want: config{demo: true, user: "dave"}},
		// The demo's store is a temp file removed on quit: OUTPOST_DB, set
		// for real use, must not make it outlive the demo.
		{name: "demo ignores OUTPOST_DB", args: []string{"--demo"}, env: map[string]string{"OUTPOST_DB": "kept.db"},
			want: config{demo: true, user: "alice"}},
		{name: "demo with an explicit --db", args: []string{"--demo", "--db", "mine.db"}, env: map[string]string{"OUTPOST_DB": "kept.db"},
			want: config{demo: true, user: "alice", db: "mine.db"}},
		{name: "missing", args: []string{"--user", "bob"}, wantErr: "missing --server (or OUTPOST_SERVER), --token (or OUTPOST_TOKEN); or try --demo"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "flag provided but not defined: -nope"},
		{name: "stray argument", args: []string{"--demo", "extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArgs(tt.args, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := parseArgs([]string{"-h"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
	if u := usage(); !strings.Contains(u, "--demo") || !strings.Contains(u, "OUTPOST_TOKEN") {
		t.Errorf("usage lacks the run command or the env vars:\n%s", u)
	}
}

func TestMessageLine(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 0, 0, time.Local)
	msg := func(status offlinedb.MessageStatus, text, errText string) offlinedb.Message {
		return offlinedb.Message{Message: protocol.Message{UserID: "bob", Text: text, CreatedAt: at}, Status: status, Error: errText}
	}
	tests := []struct {
		name string
		msg  offlinedb.Message
		want string
	}{
		{"sent", msg(offlinedb.StatusSent, "hi", ""), "15:04 bob: hi"},
		{"pending", msg(offlinedb.StatusPending, "hi", ""), "15:04 bob: hi  ⏳ pending"},
		{"failed", msg(offlinedb.StatusFailed, "hi", "not allowed"), "15:04 bob: hi  ✗ failed: not allowed"},
		{"failed without reason", msg(offlinedb.StatusFailed, "hi", ""), "15:04 bob: hi  ✗ failed"},
		{"multi-line text stays on its row", msg(offlinedb.StatusSent, "a\nb\tc", ""), "15:04 bob: a b c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ansi.Strip(messageLine(tt.msg)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
