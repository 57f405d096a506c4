package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/outpostsync/outpost"
)

func TestParseArgs(t *testing.T) {
	// The store's default place is the SDK's (outpost.DefaultDBPath),
	// which reads the real environment.
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	t.Setenv("HOME", data)
	t.Setenv("LocalAppData", data)
	env := map[string]string{"HOME": "/home/a", "OUTPOST_TOKEN": "tok", "OUTPOST_SHARE": "bob, carol"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseArgs([]string{"--server", "http://s", "--user", "alice"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.token != "tok" || !slices.Equal(cfg.share, []string{"bob", "carol"}) {
		t.Errorf("cfg = %+v; want the token and share from the environment", cfg)
	}
	if want, _ := outpost.DefaultDBPath(appFolder, "alice"); cfg.db != want {
		t.Errorf("db = %q; want the SDK's default path %q", cfg.db, want)
	}
	if want := filepath.Join(data, appFolder, "alice.db"); runtime.GOOS == "linux" && cfg.db != want {
		t.Errorf("db = %q; want %q, in $XDG_DATA_HOME", cfg.db, want)
	}
	if st, err := os.Stat(filepath.Dir(cfg.db)); err != nil || !st.IsDir() {
		t.Errorf("the store's folder is not made: %v", err)
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
