package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/syncmanager"
)

// appFolder is the app's folder in the OS's per-user data folder
// (outpost.DataDir), where its stores are unless --db says otherwise.
// Another process on a user's store (the outpost CLI, say) names the
// same file: outpost.DefaultDBPath(appFolder, user).
const appFolder = "outpost-desktop"

// config is what the flags and the environment ask for.
type config struct {
	server, user, token, db string
	share                   []string // who new lists are shared with
	offline                 bool     // start offline
	dump                    string   // write the view as JSON here on each change
	demo                    bool     // no server named: run the demo world

	// syncOpts tunes the sync manager; no flag sets it (tests do).
	syncOpts syncmanager.Options
}

func newFlagSet(cfg *config, getenv func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet("desktop", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by main
	fs.StringVar(&cfg.server, "server", getenv("OUTPOST_SERVER"), "sync server URL, such as http://127.0.0.1:8080 (env OUTPOST_SERVER)")
	fs.StringVar(&cfg.user, "user", getenv("OUTPOST_USER"), "your user id (env OUTPOST_USER)")
	fs.StringVar(&cfg.token, "token", getenv("OUTPOST_TOKEN"), "auth token for the user, signed with the server's secret (env OUTPOST_TOKEN)")
	fs.StringVar(&cfg.db, "db", getenv("OUTPOST_DB"), "local store file (env OUTPOST_DB; default USER.db in the per-user data folder, see below)")
	fs.Func("share", "comma-separated users a new list is shared with (env OUTPOST_SHARE)", func(s string) error {
		cfg.share = splitList(s)
		return nil
	})
	cfg.share = splitList(getenv("OUTPOST_SHARE"))
	fs.BoolVar(&cfg.offline, "offline", false, "start offline (Ctrl+O in the window goes online)")
	fs.StringVar(&cfg.dump, "dump", "", "write what the window shows, as JSON, to this file on each change (for tests)")
	return fs
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseArgs reads the flags, falling back to the environment, and checks
// that the server, user and token are named. It returns flag.ErrHelp for
// -h.
func parseArgs(args []string, getenv func(string) string) (config, error) {
	var cfg config
	fs := newFlagSet(&cfg, getenv)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.server == "" && cfg.token == "" {
		// Nothing to connect to: the demo, in this process.
		cfg.demo = true
		if cfg.user == "" {
			cfg.user = "alice"
		}
		return cfg, nil
	}
	var missing []string
	for _, f := range []struct{ name, env, val string }{
		{"--server", "OUTPOST_SERVER", cfg.server},
		{"--user", "OUTPOST_USER", cfg.user},
		{"--token", "OUTPOST_TOKEN", cfg.token},
	} {
		if f.val == "" {
			missing = append(missing, f.name+" (or "+f.env+")")
		}
	}
	if len(missing) > 0 {
		return config{}, errors.New("missing " + strings.Join(missing, ", "))
	}
	if cfg.db == "" {
		db, err := outpost.DefaultDBPath(appFolder, cfg.user)
		if err != nil {
			return config{}, fmt.Errorf("no place for the store (%w); give --db", err)
		}
		cfg.db = db
	}
	return cfg, nil
}

// usage is the --help text.
func usage() string {
	var b strings.Builder
	b.WriteString("desktop: a shared task list on the Outpost SDK that keeps working offline.\n\n")
	b.WriteString("  go run .                                         a demo: an in-process server, a list bob shares with alice\n")
	b.WriteString("  go run . --server URL --user ID --token TOKEN    use a running outpostd\n\n")
	fs := newFlagSet(new(config), func(string) string { return "" })
	fs.SetOutput(&b)
	fs.PrintDefaults()
	if dir, err := outpost.DataDir(); err == nil {
		fmt.Fprintf(&b, "\nThe store is USER.db in %s unless --db says otherwise.\n", filepath.Join(dir, appFolder))
	}
	b.WriteString("Keys: Enter adds the task typed, Ctrl+O goes offline and back, Esc cancels a rename.\n")
	return b.String()
}
