package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// config is what the flags and the environment ask for.
type config struct {
	server, user, token, db string
	demo                    bool
}

// demoUser is who you are in demo mode unless --user says otherwise.
const demoUser = "alice"

func newFlagSet(cfg *config, getenv func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by main
	fs.StringVar(&cfg.server, "server", getenv("OUTPOST_SERVER"), "sync server URL, such as http://127.0.0.1:8080 (env OUTPOST_SERVER)")
	fs.StringVar(&cfg.user, "user", getenv("OUTPOST_USER"), "your user id (env OUTPOST_USER; alice in demo mode)")
	fs.StringVar(&cfg.token, "token", getenv("OUTPOST_TOKEN"), "auth token for the user, signed with the server's secret (env OUTPOST_TOKEN)")
	fs.StringVar(&cfg.db, "db", getenv("OUTPOST_DB"), "local store file (env OUTPOST_DB; default outpost-chat-USER.db; in demo mode a temp file, removed on quit, and OUTPOST_DB is ignored)")
	fs.BoolVar(&cfg.demo, "demo", false, "start an in-process server with a second user and a bot, and log in to it")
	return fs
}

// parseArgs reads the flags, falling back to the environment, and checks
// that a non-demo run names its server, user and token. It returns
// flag.ErrHelp for -h.
func parseArgs(args []string, getenv func(string) string) (config, error) {
	var cfg config
	fs := newFlagSet(&cfg, getenv)
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.demo {
		if cfg.user == "" {
			cfg.user = demoUser
		}
		// The demo's store lives in its temp dir, removed on quit, so
		// OUTPOST_DB (set for real use, perhaps) must not send it to a
		// file that would outlive the demo. Only an explicit --db does,
		// and that file is yours to keep.
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "db" })
		if !explicit {
			cfg.db = ""
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
		return config{}, errors.New("missing " + strings.Join(missing, ", ") + "; or try --demo")
	}
	if cfg.db == "" {
		cfg.db = "outpost-chat-" + cfg.user + ".db"
	}
	return cfg, nil
}

// usage is the --help text.
func usage() string {
	var b strings.Builder
	b.WriteString("chat: a terminal chat on the Outpost SDK that keeps working offline.\n\n")
	b.WriteString("  go run . --demo                                  try it against an in-process server\n")
	b.WriteString("  go run . --server URL --user ID --token TOKEN    use a running outpostd\n\n")
	fs := newFlagSet(new(config), func(string) string { return "" })
	fs.SetOutput(&b)
	fs.PrintDefaults()
	b.WriteString("\nKeys: tab/shift+tab switch channel, enter sends, ctrl+o goes offline and back, esc or ctrl+c quits.\n")
	return b.String()
}
