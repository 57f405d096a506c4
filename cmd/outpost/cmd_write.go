package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

const writeHelp = `The write is stored in the local DB's outbox first, before the network is
tried, so it is never lost (send prints the message id at that moment).
Online, the command then waits (up to --wait) for the outbox to drain and
says "sent". Offline (the first connection attempt fails, or none succeeds
within --timeout) it exits at once, with code 0, and says
"queued (offline): will be sent when online" and why the server is
unreachable (connection refused, unknown host, TLS, timed out); the next
sync or writing command online sends it. A refused token exits 4; the write stays
queued. A write the
server refuses for good (not a member, no such message) exits 1 and is
listed by 'outpost failed'.
`

// writeFlags are the flags of every writing command.
type writeFlags struct {
	connFlags
	wait time.Duration
	json bool
}

func (w *writeFlags) add(fs *flag.FlagSet, e *env) {
	w.addServer(fs, e)
	fs.DurationVar(&w.wait, "wait", 10*time.Second, "online, how long to wait for the server to confirm the write")
	fs.BoolVar(&w.json, "json", false, "print the outcome as JSON")
}

var sendCmd = &command{
	name: "send", args: "CID TEXT [flags]",
	summary: "send a message (queued when offline); prints its id",
	help:    "Prints the new message's id on stdout, and how it went on stderr. A TEXT\nof - reads the text from stdin.\n\n" + writeHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var w writeFlags
		w.add(fs, e)
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, "CID", "TEXT"); err != nil {
				return err
			}
			cid, text := args[0], args[1]
			if text == "-" {
				b, err := readAllLimited(e)
				if err != nil {
					return err
				}
				if text = strings.TrimRight(string(b), "\r\n"); strings.TrimSpace(text) == "" {
					return usageErrorf("TEXT from stdin is empty")
				}
			}
			var id string
			return write(ctx, e, &w, "send", func(c *outpost.Client) error {
				w, err := c.SendMessage(ctx, cid, outpost.NewMessage{Text: text})
				id = w.MessageID
				return err
			}, func() string { return id })
		}
	},
}

var editCmd = &command{
	name: "edit", args: "CID MSGID TEXT [flags]",
	summary: "change a message's text (queued when offline)",
	help:    writeHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var w writeFlags
		w.add(fs, e)
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, "CID", "MSGID", "TEXT"); err != nil {
				return err
			}
			return write(ctx, e, &w, "edit", func(c *outpost.Client) error {
				_, err := c.UpdateMessage(ctx, args[0], args[1], args[2])
				return err
			}, func() string { return args[1] })
		}
	},
}

var deleteCmd = &command{
	name: "delete", args: "CID MSGID [--hard] [flags]",
	summary: "delete a message (queued when offline)",
	help:    "A soft delete keeps a tombstone that clients show as deleted; --hard\nremoves the message for good.\n\n" + writeHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var w writeFlags
		w.add(fs, e)
		hard := fs.Bool("hard", false, "delete for good instead of leaving a tombstone")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, "CID", "MSGID"); err != nil {
				return err
			}
			return write(ctx, e, &w, "delete", func(c *outpost.Client) error {
				_, err := c.DeleteMessage(ctx, args[0], args[1], outpost.DeleteOptions{Hard: *hard})
				return err
			}, func() string { return args[1] })
		}
	},
}

var reactCmd = &command{
	name: "react", args: "CID MSGID TYPE [flags]",
	summary: "add a reaction such as 'like' to a message (queued when offline)",
	help:    writeHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var w writeFlags
		w.add(fs, e)
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, "CID", "MSGID", "TYPE"); err != nil {
				return err
			}
			return write(ctx, e, &w, "react", func(c *outpost.Client) error {
				_, err := c.SendReaction(ctx, args[0], args[1], args[2])
				return err
			}, func() string { return args[1] })
		}
	},
}

// wantArgs checks the positional arguments: exactly the names given, none
// empty.
func wantArgs(args []string, names ...string) error {
	if len(args) < len(names) {
		return usageErrorf("missing %s (want %s)", names[len(args)], strings.Join(names, " "))
	}
	if len(args) > len(names) {
		switch {
		case len(names) == 0:
			return usageErrorf("unexpected argument %q (the command takes flags only)", args[0])
		case names[len(names)-1] == "TEXT":
			return usageErrorf("unexpected argument %q (want %s; quote a text with spaces)", args[len(names)], strings.Join(names, " "))
		}
		return usageErrorf("unexpected argument %q (want %s)", args[len(names)], strings.Join(names, " "))
	}
	for i, a := range args {
		if strings.TrimSpace(a) == "" {
			return usageErrorf("%s is empty", names[i])
		}
		// Ids are checked here, so a bad one is a usage error now rather
		// than a write the server refuses later.
		var err error
		switch names[i] {
		case "CID":
			err = protocol.ValidateCID(a)
		case "MSGID":
			err = protocol.ValidateID("message id", a)
		case "TYPE":
			if err = protocol.ValidateID("reaction type", a); err != nil {
				// Reaction types are names; the app draws them.
				err = fmt.Errorf("%w; a reaction type is a name such as like, love or thumbsup, not an emoji", err)
			}
		}
		if err != nil {
			return usageErrorf("%s %q: %v", names[i], a, err)
		}
	}
	return nil
}

// writeResult is the JSON outcome of a writing command.
type writeResult struct {
	Command   string `json:"command"`
	MessageID string `json:"message_id"`
	// Status is "sent", "queued" (stored, not yet confirmed by the
	// server) or "failed" (refused for good).
	Status string `json:"status"`
	Online bool   `json:"online"`
	// Syncer is false when another process that has the DB open syncs
	// it: that process sends the write (see README, "Several processes").
	Syncer bool   `json:"syncer"`
	Error  string `json:"error,omitempty"`
}

// write runs one writing command: open, queue, and online wait for the
// drain. The outcome is read from the outbox afterwards, by message: a
// new entry in the failed list for it means refused, a task for it still
// in the outbox means queued, neither means sent. (The facade does not
// return the task it queued, and an edit of a queued send folds into it.)
func write(ctx context.Context, e *env, w *writeFlags, name string, queue func(*outpost.Client) error, msgID func() string) error {
	if w.wait < 0 {
		return usageErrorf("--wait must not be negative")
	}
	// The write is stored before the network is tried: it never waits
	// for a connection, and an interrupt after it loses nothing.
	s, err := openOffline(ctx, &w.connFlags, nil)
	if err != nil {
		return err
	}
	defer s.Close(ctx)

	failedBefore, err := s.FailedTasks(ctx)
	if err != nil {
		s.fail()
		return withCode(exitDB, err)
	}
	if err := queue(s.Client); err != nil {
		if s.created {
			s.fail()
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	id := msgID()
	if name == "send" && !w.json {
		fmt.Fprintln(e.stdout, id) // now: the write is stored
	}
	if err := s.connect(ctx, &w.connFlags); err != nil {
		if !s.created || ctx.Err() != nil {
			err = fmt.Errorf("%w; the write stays queued in the local DB", err)
		}
		return err
	}

	res := writeResult{Command: name, MessageID: id, Status: "queued", Online: s.online, Syncer: s.Status().Syncer}
	if s.online {
		// Another process may hold the DB's sync lock: it sends the
		// write, after its own earlier ones; the command waits for that.
		wctx, cancel := context.WithTimeout(ctx, w.wait)
		err := s.awaitSync(wctx, s.SyncNow, func() bool {
			st, _ := outcome(ctx, s.Client, res.MessageID, failedBefore)
			return st != "queued"
		})
		cancel()
		if err != nil && ctx.Err() != nil {
			return withCode(exitError, errors.New("interrupted; the write stays queued in the local DB"))
		}
		res.Status, res.Error = outcome(ctx, s.Client, res.MessageID, failedBefore)
		res.Syncer = s.Status().Syncer
		if res.Status == "queued" && res.Error == "" && err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, syncmanager.ErrNotSyncer) {
			res.Error = err.Error()
		}
	}

	if w.json {
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	}
	switch res.Status {
	case "failed":
		return withCode(exitError, fmt.Errorf("%s refused by the server: %s (see 'outpost failed')", name, res.Error))
	case "sent":
		if !w.json {
			fmt.Fprintln(e.stderr, "sent")
		}
	default:
		if !w.json {
			switch {
			case s.online && !res.Syncer && res.Error == "":
				fmt.Fprintf(e.stderr, "queued for the process that syncs this DB (another process has it open): not sent within %s\n", w.wait)
			case s.online && res.Error != "":
				fmt.Fprintf(e.stderr, "queued: not confirmed (%s); will be sent on the next sync\n", oneLine(res.Error))
			case s.online:
				fmt.Fprintf(e.stderr, "queued: not confirmed within %s; will be sent on the next sync\n", w.wait)
			default:
				fmt.Fprintf(e.stderr, "queued (offline): will be sent when online (%s unreachable: %s)\n", w.server, s.why)
			}
		}
	}
	return nil
}

// readAllLimited reads stdin, up to 1 MiB.
func readAllLimited(e *env) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read from stdin: %w", err)
	}
	return b, nil
}

// outcome says how the writes for a message stand: refused ("failed",
// with the error) if the failed list gained one, "queued" while one is
// still in the outbox, else "sent".
func outcome(ctx context.Context, c *outpost.Client, messageID string, failedBefore []offlinedb.FailedTask) (status, errText string) {
	seen := map[string]bool{}
	for _, t := range failedBefore {
		seen[t.ID] = true
	}
	failed, err := c.FailedTasks(ctx)
	if err != nil {
		return "queued", ""
	}
	for _, t := range failed {
		if !seen[t.ID] && targets(t.PendingTask, messageID) {
			return "failed", t.Error
		}
	}
	pending, err := c.PendingTasks(ctx)
	if err != nil {
		return "queued", ""
	}
	for _, t := range pending {
		if targets(t, messageID) {
			return "queued", t.LastError
		}
	}
	return "sent", ""
}

// targets reports whether a task is on the message or record (a
// recordTarget) a write named.
func targets(t offlinedb.PendingTask, target string) bool {
	if t.RecordID != "" {
		return recordTarget(t.CID, t.Collection, t.RecordID) == target || target == ""
	}
	return t.MessageID == target
}

var retryCmd = &command{
	name: "retry", args: "TASKID [flags]",
	summary: "send a write the server refused again (see 'outpost failed')",
	help: "The write goes back to the end of the outbox, with its row, and is sent\n" +
		"like a new one. TASKID is the id 'outpost failed' lists.\n\n" + writeHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var w writeFlags
		w.add(fs, e)
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, "TASKID"); err != nil {
				return err
			}
			var msg string
			return write(ctx, e, &w, "retry", func(c *outpost.Client) error {
				failed, err := c.FailedTasks(ctx)
				if err != nil {
					return err
				}
				for _, f := range failed {
					if f.ID == args[0] {
						msg = f.MessageID
					}
				}
				if err := c.RetryFailed(ctx, args[0]); errors.Is(err, offlinedb.ErrTaskNotFound) {
					return fmt.Errorf("no failed write %s (see 'outpost failed')", args[0])
				} else if err != nil {
					return err
				}
				return nil
			}, func() string { return msg })
		}
	},
}

var dismissCmd = &command{
	name: "dismiss", args: "TASKID",
	summary: "forget a write the server refused; its message shows the server's version",
	help: "The write leaves the failed list; its message or reaction is what the\n" +
		"server has (a refused send disappears). Works offline.\n\n" + readHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var r readFlags
		r.add(fs, e)
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, "TASKID"); err != nil {
				return err
			}
			db, _, err := openLocal(ctx, &r.connFlags)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.DismissFailed(ctx, args[0]); errors.Is(err, offlinedb.ErrTaskNotFound) {
				return fmt.Errorf("no failed write %s (see 'outpost failed')", args[0])
			} else if err != nil {
				return err
			}
			fmt.Fprintln(e.stderr, "dismissed")
			return nil
		}
	},
}
