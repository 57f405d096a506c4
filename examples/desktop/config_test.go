package main

import (
	"errors"
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDataDir(t *testing.T) {
	defer func(old string) { goos = old }(goos)
	for _, tc := range []struct {
		goos string
		env  map[string]string
		want string
	}{
		{"linux", map[string]string{"HOME": "/home/a", "XDG_DATA_HOME": "/data"}, "/data/outpost-desktop"},
		{"linux", map[string]string{"HOME": "/home/a"}, "/home/a/.local/share/outpost-desktop"},
		{"linux", map[string]string{"HOME": "/home/a", "XDG_DATA_HOME": "relative"}, "/home/a/.local/share/outpost-desktop"},
		{"darwin", map[string]string{"HOME": "/Users/a"}, "/Users/a/Library/Application Support/outpost-desktop"},
		{"windows", map[string]string{"LocalAppData": `C:\Users\a\AppData\Local`}, filepath.Join(`C:\Users\a\AppData\Local`, "outpost-desktop")},
		{"linux", map[string]string{}, ""},
	} {
		goos = tc.goos
		got, err := dataDir(func(k string) string { return tc.env[k] })
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%s %v: dataDir = %q, %v; want %q", tc.goos, tc.env, got, err, tc.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	env := map[string]string{"HOME": "/home/a", "OUTPOST_TOKEN": "tok", "OUTPOST_SHARE": "bob, carol"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseArgs([]string{"--server", "http://s", "--user", "alice"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.token != "tok" || !slices.Equal(cfg.share, []string{"bob", "carol"}) {
		t.Errorf("cfg = %+v; want the token and share from the environment", cfg)
	}
	if dir, _ := dataDir(getenv); cfg.db != filepath.Join(dir, "alice.db") {
		t.Errorf("db = %q; want alice.db in the data folder %q", cfg.db, dir)
	}

	cfg, err = parseArgs([]string{"--server", "http://s", "--user", "alice", "--db", "x.db", "--share", "dan", "--offline"}, getenv)
	if err != nil || cfg.db != "x.db" || !slices.Equal(cfg.share, []string{"dan"}) || !cfg.offline {
		t.Errorf("flags over the environment: %+v, %v", cfg, err)
	}

	_, err = parseArgs([]string{"--server", "http://s"}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "--user") || !strings.Contains(err.Error(), "--token") {
		t.Errorf("only --server: err = %v; want the missing ones named", err)
	}
	if cfg, err := parseArgs(nil, func(string) string { return "" }); err != nil || !cfg.demo || cfg.user != "alice" {
		t.Errorf("no flags: %+v, %v; want the demo as alice", cfg, err)
	}
	if _, err := parseArgs([]string{"-h"}, getenv); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v; want flag.ErrHelp", err)
	}
}
