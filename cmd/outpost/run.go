package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// Exit codes. They are part of the CLI's contract with scripts: documented
// in the help text and never renumbered.
const (
	exitOK      = 0 // success; a write queued while offline is a success
	exitError   = 1 // a runtime error not covered below
	exitUsage   = 2 // bad flag, missing argument or setting
	exitOffline = 3 // the server cannot be reached by a command that needs it
	exitAuth    = 4 // the server refused the token
	exitDB      = 5 // local DB problem: missing or read-only folder, not an Outpost DB, another user's or server's DB
	// exitInterrupted: SIGINT or SIGTERM stopped the command before it
	// finished (128 + SIGINT, as shells report it).
	exitInterrupted = 130
)

const exitCodesHelp = `EXIT CODES
  0  success (a write queued while offline is a success: it says "queued")
  1  runtime error (e.g. the server refused a write for good)
  2  usage error: unknown command or flag, missing argument, token, server,
     or a write that cannot be sent as given (a bad id, a text over the
     server's limit of 65536 bytes); nothing is queued
  3  the server cannot be reached by a command that needs it (sync)
  4  the server refused the token (bad, expired, or for another secret), or
     the token names another user than --user
  5  local DB problem: missing or read-only folder, missing DB for a reading
     command, a file that is not an Outpost client DB, a DB of another user,
     or a DB bound to another server than the one --server reaches (a
     server is known by its id, not its URL: another name for the same
     server is fine); a write is still queued locally, and reading
     commands still work
  130 interrupted (SIGINT or SIGTERM) before it finished; what was already
     applied or queued is kept ('watch' ends this way with 0)

With --json, a failing command prints the error on stdout too, as one JSON
object, so a pipeline (| jq) sees it:
  {"error":{"message":"...","kind":"offline","exit_code":3}}
kind is one of error, usage, offline, auth, db, interrupted.
`

const envHelp = `ENVIRONMENT
  OUTPOST_SERVER  server URL (--server), e.g. http://127.0.0.1:8080
  OUTPOST_USER    user id (--user)
  OUTPOST_TOKEN   token (--token); mint one with "outpost token"
  OUTPOST_DB      local DB file (--db)
  OUTPOST_SECRET  token secret for "outpost token" (--secret); the same
                  variable outpostd reads
  Flags win over the environment.
`

// env is what a command runs with: the process's streams and environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of the arguments after the name
	summary string
	help    string // longer text for "outpost help NAME"
	// setup defines the command's flags on fs (defaults from e's
	// environment) and returns the function that runs the command with
	// its positional arguments once the flags are parsed.
	setup func(fs *flag.FlagSet, e *env) func(ctx context.Context, args []string) error
	// jsonLines is set for a command whose --json output is one object
	// per line (watch): a failure adds an error line even after output.
	jsonLines bool
}

var commands []*command

func init() {
	commands = []*command{
		tokenCmd, sendCmd, editCmd, deleteCmd, reactCmd, syncCmd, watchCmd,
		channelsCmd, messagesCmd, historyCmd, statusCmd, pendingCmd, failedCmd, retryCmd, dismissCmd,
		channelCmd, recordCmd,
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run runs the CLI with args (without the program name) and returns the
// exit code. It never panics on bad input and prints errors as one line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: osGetenv})
}

func runEnv(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, mainUsage())
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		fmt.Fprint(e.stdout, mainUsage())
		return exitOK
	case "help":
		if len(args) == 1 {
			fmt.Fprint(e.stdout, mainUsage())
			return exitOK
		}
		c := lookup(args[1])
		if c == nil {
			return fail(e, usageErrorf("help: unknown command %q (run 'outpost help')", args[1]))
		}
		fmt.Fprint(e.stdout, commandHelp(c))
		return exitOK
	}
	c := lookup(name)
	if c == nil && strings.HasPrefix(name, "-") {
		return fail(e, usageErrorf("flags go after the command: outpost COMMAND %s ... (run 'outpost help')", name))
	}
	if c == nil {
		return fail(e, usageErrorf("unknown command %q (run 'outpost help')", name))
	}
	fs := newFlagSet(c.name)
	out := &watchedWriter{w: e.stdout}
	ce := *e
	ce.stdout = out
	runCmd := c.setup(fs, &ce)
	pos, err := parseArgs(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, commandHelp(c))
		return exitOK
	}
	asJSON := jsonMode(fs, args[1:], err)
	if err != nil {
		// The flag package names flags with one dash; the help uses two.
		msg := strings.NewReplacer("flag -", "flag --", "defined: -", "defined: --").Replace(err.Error())
		return failAs(e, asJSON, usageErrorf("%s: %s (see 'outpost help %s')", c.name, msg, c.name))
	}
	err = runCmd(ctx, pos)
	if err != nil && ctx.Err() != nil && classify(err) != exitUsage {
		// A signal stopped it: the cause is the interrupt, whatever the
		// command was doing then.
		err = withCode(exitInterrupted, err)
	}
	// A --json command that failed before printing its document prints
	// the error as one; one that printed its own (a write's "failed"
	// outcome) already said it there. Line-per-event commands (watch) get
	// the error as one more line.
	return failAs(e, asJSON && (out.n == 0 || c.jsonLines), err)
}

// jsonMode reports whether the command runs with --json. When the flags
// could not be parsed, the raw arguments are looked at instead.
func jsonMode(fs *flag.FlagSet, args []string, parseErr error) bool {
	if parseErr == nil {
		f := fs.Lookup("json")
		return f != nil && f.Value.String() == "true"
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

// watchedWriter counts what a command writes to stdout.
type watchedWriter struct {
	w io.Writer
	n int
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += n
	return n, err
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`outpost: a command-line client of an Outpost sync server.

USAGE
  outpost COMMAND [flags] [args]
  outpost help COMMAND

COMMANDS
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Writing commands (send, edit, delete, react) work offline: the write is
stored in the local DB at once and sent when the server is reachable.
'channel' (create a channel, manage its members) needs the server.
Reading commands (channels, messages, pending, failed, status) read the
local DB and need neither the network nor a token; --json prints one JSON
document.

`)
	b.WriteString(envHelp)
	b.WriteString("\n")
	b.WriteString(exitCodesHelp)
	return b.String()
}

func commandHelp(c *command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: outpost %s", c.name)
	if c.args != "" {
		fmt.Fprintf(&b, " %s", c.args)
	}
	fmt.Fprintf(&b, "\n\n%s\n", c.summary)
	if c.help != "" {
		fmt.Fprintf(&b, "\n%s", c.help)
	}
	if fs := c.flagHelp(); fs != "" {
		fmt.Fprintf(&b, "\nFLAGS\n%s", fs)
	}
	b.WriteString("\n")
	b.WriteString(envHelp)
	b.WriteString("\n")
	b.WriteString(exitCodesHelp)
	return b.String()
}

// flagHelp lists the command's flags, from a flag set built with an empty
// environment so the defaults shown are the built-in ones.
func (c *command) flagHelp() string {
	fs := newFlagSet(c.name)
	c.setup(fs, &env{getenv: func(string) string { return "" }})
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) { // VisitAll goes in name order
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(&b, " %s", name)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(&b, "\n      %s\n", usage)
	})
	return b.String()
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("outpost "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by fail, as one line
	return fs
}

// parseArgs parses flags anywhere among the arguments ("send CID TEXT
// --wait 5s" as well as "send --wait 5s CID TEXT") and returns the
// positional ones. Everything after "--" is positional, so a text may
// start with a dash.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// exitErr is an error with its exit code.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitErr{exitUsage, fmt.Errorf(format, args...)}
}

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitErr{code, err}
}

// fail prints err as one line on stderr and returns its exit code.
func fail(e *env, err error) int { return failAs(e, false, err) }

// jsonError is the error object a --json command prints on stdout.
type jsonError struct {
	Error struct {
		Message  string `json:"message"`
		Kind     string `json:"kind"`
		ExitCode int    `json:"exit_code"`
	} `json:"error"`
}

// exitKinds names the exit codes in jsonError.
var exitKinds = map[int]string{
	exitError: "error", exitUsage: "usage", exitOffline: "offline",
	exitAuth: "auth", exitDB: "db", exitInterrupted: "interrupted",
}

// failAs is fail that, with asJSON, also prints err on stdout as a
// jsonError (one line).
func failAs(e *env, asJSON bool, err error) int {
	if err == nil {
		return exitOK
	}
	code := classify(err)
	msg := strings.Join(strings.Fields(err.Error()), " ") // one line, always
	fmt.Fprintf(e.stderr, "outpost: %s\n", msg)
	if asJSON {
		var je jsonError
		je.Error.Message, je.Error.Kind, je.Error.ExitCode = msg, exitKinds[code], code
		if b, err := json.Marshal(je); err == nil {
			fmt.Fprintf(e.stdout, "%s\n", b)
		}
	}
	return code
}

// classify maps an error to its exit code: an explicit code first, then
// what the SDK's typed errors say.
func classify(err error) int {
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	if isAuthError(err) {
		return exitAuth
	}
	var oe *offlinedb.OpenError
	var sm *client.ServerMismatchError
	if errors.As(err, &oe) || errors.Is(err, offlinedb.ErrNotDatabase) || errors.Is(err, offlinedb.ErrIdentityMismatch) ||
		errors.As(err, &sm) {
		return exitDB
	}
	if errors.Is(err, syncmanager.ErrOffline) {
		return exitOffline
	}
	if errors.Is(err, offlinedb.ErrInvalidTask) {
		return exitUsage // a write the SDK refused to queue as given
	}
	return exitError
}

// isAuthError reports whether the server refused the token, or said it
// names another user than --user.
func isAuthError(err error) bool {
	var um *client.UserMismatchError
	if errors.As(err, &um) {
		return true
	}
	e, ok := protocol.AsAPIError(err)
	return ok && (e.Code == protocol.CodeAuth || e.Code == protocol.CodeTokenExpired)
}

// connectError gives a failed connection attempt its exit code: a refused
// token is exitAuth, another server than the DB's exitDB, anything else
// (unreachable, not an Outpost server) exitOffline.
func connectError(server string, err error) error {
	var sm *client.ServerMismatchError
	switch {
	case errors.As(err, &sm):
		return withCode(exitDB, fmt.Errorf("server %s is not the server the DB holds the data of (it is %s, the DB's is %s); use the DB's own server, or another --db",
			server, cmp.Or(sm.Got, "another one"), sm.Bound))
	case isAuthError(err):
		var um *client.UserMismatchError
		if errors.As(err, &um) {
			return withCode(exitAuth, fmt.Errorf("server %s: the token is user %s's, not %s's", server, um.Got, um.Want))
		}
		return withCode(exitAuth, fmt.Errorf("server %s refused the token: %v", server, err))
	case errors.Is(err, context.DeadlineExceeded):
		return withCode(exitOffline, fmt.Errorf("server %s unreachable (no connection within the timeout)", server))
	case errors.Is(err, context.Canceled):
		return withCode(exitError, errors.New("interrupted"))
	case errors.Is(err, client.ErrClosed):
		return withCode(exitError, err)
	}
	return withCode(exitOffline, fmt.Errorf("server %s: %v", server, err))
}
