package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/outpostsync/outpost/syncmanager"
)

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
	fs.StringVar(&cfg.db, "db", getenv("OUTPOST_DB"), "local store file (env OUTPOST_DB; default USER.db in the per-user data folder, see --help)")
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
		dir, err := dataDir(getenv)
		if err != nil {
			return config{}, fmt.Errorf("no per-user data folder (%w); give --db", err)
		}
		cfg.db = filepath.Join(dir, cfg.user+".db")
	}
	return cfg, nil
}

// dataDir returns the app's folder in the OS's per-user data folder:
// $XDG_DATA_HOME (or ~/.local/share) on Linux and the BSDs,
// ~/Library/Application Support on macOS, %LocalAppData% on Windows, each
// with outpost-desktop inside.
func dataDir(getenv func(string) string) (string, error) {
	var base string
	switch goos {
	case "windows":
		base = getenv("LocalAppData")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			base = filepath.Join(h, "Library", "Application Support")
		}
	default:
		base = getenv("XDG_DATA_HOME")
		if base == "" || !filepath.IsAbs(base) {
			base = ""
			if h := getenv("HOME"); h != "" {
				base = filepath.Join(h, ".local", "share")
			}
		}
	}
	if base == "" {
		return "", errors.New("neither the OS's data folder variable nor HOME is set")
	}
	return filepath.Join(base, "outpost-desktop"), nil
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
	if dir, err := dataDir(os.Getenv); err == nil {
		fmt.Fprintf(&b, "\nThe store is in %s unless --db says otherwise.\n", dir)
	}
	b.WriteString("Keys: Enter adds the task typed, Ctrl+O goes offline and back, Esc cancels a rename.\n")
	return b.String()
}
