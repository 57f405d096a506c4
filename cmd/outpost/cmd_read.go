package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/filelock"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
)

const readHelp = `It reads the local DB only: no server, no token, no network. With no
--user it shows the DB's own user. --json prints one JSON document.
`

// readFlags are the flags of every reading command.
type readFlags struct {
	connFlags
	json bool
}

func (r *readFlags) add(fs *flag.FlagSet, e *env) {
	r.addLocal(fs, e)
	fs.BoolVar(&r.json, "json", false, "print one JSON document")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timePtr is nil for the zero time, so JSON says null instead of year 1.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// channelJSON is a channel in 'outpost channels --json'.
type channelJSON struct {
	CID           string     `json:"cid"`
	Name          string     `json:"name"`
	MemberCount   int        `json:"member_count"`
	Unread        int        `json:"unread"`
	LastMessageAt *time.Time `json:"last_message_at"`
	LastSeq       int64      `json:"last_seq"`
	Hidden        bool       `json:"hidden"`
}

var channelsCmd = &command{
	name: "channels", args: "[--hidden] [--json]",
	summary: "list the channels in the local DB",
	help:    readHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var r readFlags
		r.add(fs, e)
		hidden := fs.Bool("hidden", false, "also list the channels you hid ('outpost channel hide')")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			db, user, err := openLocal(ctx, &r.connFlags)
			if err != nil {
				return err
			}
			defer db.Close()
			chans, err := db.Channels(ctx, offlinedb.ChannelsQuery{Limit: 1 << 20, IncludeHidden: *hidden})
			if err != nil {
				return err
			}
			out := []channelJSON{}
			for _, c := range chans {
				unread, err := db.UnreadCount(ctx, c.CID)
				if err != nil {
					return err
				}
				var last time.Time
				if c.LastMessageAt != nil {
					last = *c.LastMessageAt
				}
				out = append(out, channelJSON{CID: c.CID, Name: c.Name, MemberCount: c.MemberCount,
					Unread: unread, LastMessageAt: timePtr(last), LastSeq: c.LastSeq, Hidden: c.Hidden})
			}
			if r.json {
				return writeJSON(e.stdout, struct {
					User     string        `json:"user"`
					Channels []channelJSON `json:"channels"`
				}{user, out})
			}
			if len(out) == 0 {
				fmt.Fprintln(e.stdout, "no channels (run 'outpost sync' to fetch them)")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CID\tNAME\tMEMBERS\tUNREAD\tLAST MESSAGE")
			for _, c := range out {
				var last time.Time
				if c.LastMessageAt != nil {
					last = *c.LastMessageAt
				}
				name := c.Name
				if c.Hidden {
					name += " (hidden)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.CID, name, c.MemberCount, c.Unread, fmtTime(last))
			}
			return tw.Flush()
		}
	},
}

// messageJSON is a message in 'outpost messages --json'.
type messageJSON struct {
	ID        string         `json:"id"`
	CID       string         `json:"cid"`
	UserID    string         `json:"user_id"`
	Text      string         `json:"text"`
	CreatedAt *time.Time     `json:"created_at"`
	UpdatedAt *time.Time     `json:"updated_at"`
	DeletedAt *time.Time     `json:"deleted_at"`
	Reactions map[string]int `json:"reactions"`
	// Status is "sent", "pending" (in the outbox) or "failed".
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

var messagesCmd = &command{
	name: "messages", args: "CID [--limit N] [--json]",
	summary: "list a channel's latest messages from the local DB, oldest first (--limit 0: all)",
	help:    "Messages still in the outbox show as pending, refused ones as failed.\n\n" + readHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var r readFlags
		r.add(fs, e)
		limit := fs.Int("limit", 50, "how many of the latest messages to show; 0 shows all")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, "CID"); err != nil {
				return err
			}
			switch {
			case *limit < 0:
				return usageErrorf("--limit must not be negative")
			case *limit == 0:
				*limit = math.MaxInt32
			}
			db, _, err := openLocal(ctx, &r.connFlags)
			if err != nil {
				return err
			}
			defer db.Close()
			cid := args[0]
			if _, err := db.Channel(ctx, cid); errors.Is(err, offlinedb.ErrNotFound) {
				// A channel written to offline has pending messages
				// before the channel itself is known; only refuse when
				// there is nothing at all.
				if ms, _ := db.UnsentMessages(ctx, cid); len(ms) == 0 {
					return fmt.Errorf("no channel %s in the local DB (see 'outpost channels')", cid)
				}
			} else if err != nil {
				return err
			}
			msgs, err := db.Messages(ctx, cid, offlinedb.MessagesQuery{Limit: *limit})
			if err != nil {
				return err
			}
			out := []messageJSON{}
			for _, m := range msgs {
				var del time.Time
				if m.DeletedAt != nil {
					del = *m.DeletedAt
				}
				rc := m.ReactionCounts
				if rc == nil {
					rc = map[string]int{}
				}
				out = append(out, messageJSON{ID: m.ID, CID: m.CID, UserID: m.UserID, Text: m.Text,
					CreatedAt: timePtr(m.CreatedAt), UpdatedAt: timePtr(m.UpdatedAt), DeletedAt: timePtr(del),
					Reactions: rc, Status: string(m.Status), Error: m.Error})
			}
			if r.json {
				return writeJSON(e.stdout, struct {
					CID      string        `json:"cid"`
					Messages []messageJSON `json:"messages"`
				}{cid, out})
			}
			for _, m := range out {
				var created time.Time
				if m.CreatedAt != nil {
					created = *m.CreatedAt
				}
				line := fmt.Sprintf("%s  %s  %s: %s", fmtTime(created), m.ID, m.UserID, oneLine(m.Text))
				if len(m.Reactions) > 0 {
					line += "  " + fmtReactions(m.Reactions)
				}
				if m.Status != string(offlinedb.StatusSent) {
					line += "  [" + m.Status + "]"
				}
				if m.Error != "" {
					line += " " + oneLine(m.Error)
				}
				fmt.Fprintln(e.stdout, line)
			}
			return nil
		}
	},
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func fmtReactions(rc map[string]int) string {
	keys := make([]string, 0, len(rc))
	for k := range rc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, rc[k])
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// taskJSON is an outbox task in 'outpost pending --json' and, with the
// failure fields, in 'outpost failed --json'.
type taskJSON struct {
	Seq           int64           `json:"seq"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	CID           string          `json:"cid"`
	MessageID     string          `json:"message_id"`
	Payload       json.RawMessage `json:"payload"`
	Attempts      int             `json:"attempts"`
	LastError     string          `json:"last_error"`
	CreatedAt     *time.Time      `json:"created_at"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	Error         string          `json:"error,omitempty"`
	ErrorCode     int             `json:"error_code,omitempty"`
	FailedAt      *time.Time      `json:"failed_at,omitempty"`
}

func toTaskJSON(t offlinedb.PendingTask) taskJSON {
	p := t.Payload
	if len(p) == 0 {
		p = json.RawMessage("null")
	}
	return taskJSON{Seq: t.Seq, ID: t.ID, Type: string(t.Type), CID: t.CID, MessageID: t.MessageID,
		Payload: p, Attempts: t.Attempts, LastError: t.LastError, CreatedAt: timePtr(t.CreatedAt),
		NextAttemptAt: timePtr(t.NextAttemptAt)}
}

var pendingCmd = taskListCmd("pending", "list the writes waiting in the outbox, in the order they will be sent",
	"outbox empty", "SEQ\tTYPE\tCID\tMESSAGE\tATTEMPTS\tLAST ERROR",
	func(ctx context.Context, db *store.DB, user string) ([]taskJSON, error) {
		tasks, err := db.PendingTasks(ctx)
		out := []taskJSON{}
		for _, t := range tasks {
			out = append(out, toTaskJSON(t))
		}
		return out, err
	},
	func(t taskJSON) string {
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%s", t.Seq, t.Type, t.CID, t.MessageID, t.Attempts, oneLine(t.LastError))
	})

var failedCmd = taskListCmd("failed", "list the writes the server refused for good, with their errors",
	"no failed writes", "ID\tTYPE\tCID\tMESSAGE\tFAILED AT\tERROR",
	func(ctx context.Context, db *store.DB, user string) ([]taskJSON, error) {
		tasks, err := db.FailedTasks(ctx)
		out := []taskJSON{}
		for _, t := range tasks {
			j := toTaskJSON(t.PendingTask)
			j.Error, j.ErrorCode, j.FailedAt = t.Error, t.ErrorCode, timePtr(t.FailedAt)
			out = append(out, j)
		}
		return out, err
	},
	func(t taskJSON) string {
		var at time.Time
		if t.FailedAt != nil {
			at = *t.FailedAt
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", t.ID, t.Type, t.CID, t.MessageID, fmtTime(at), oneLine(t.Error))
	})

// taskListCmd makes a command that lists tasks from the local DB: as
// {"user": ..., name: [...]} with --json, else as a table (or the empty
// line when there are none).
func taskListCmd(name, summary, empty, header string,
	list func(ctx context.Context, db *store.DB, user string) ([]taskJSON, error),
	row func(taskJSON) string) *command {
	return &command{
		name: name, args: "[--json]", summary: summary, help: readHelp,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			var r readFlags
			r.add(fs, e)
			return func(ctx context.Context, args []string) error {
				if err := wantArgs(args); err != nil {
					return err
				}
				db, user, err := openLocal(ctx, &r.connFlags)
				if err != nil {
					return err
				}
				defer db.Close()
				out, err := list(ctx, db, user)
				if err != nil {
					return err
				}
				if r.json {
					return writeJSON(e.stdout, map[string]any{"user": user, name: out})
				}
				if len(out) == 0 {
					fmt.Fprintln(e.stdout, empty)
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, header)
				for _, t := range out {
					fmt.Fprintln(tw, row(t))
				}
				return tw.Flush()
			}
		},
	}
}

// statusJSON is 'outpost status --json'.
type statusJSON struct {
	User string `json:"user"`
	DB   string `json:"db"`
	// Server is the server probed, empty when none is configured.
	Server string `json:"server"`
	// Checked says whether the server was probed; Online is the result.
	Checked      bool       `json:"checked"`
	Online       bool       `json:"online"`
	LastSyncedAt *time.Time `json:"last_synced_at"`
	Pending      int        `json:"pending"`
	Failed       int        `json:"failed"`
	// LastError is why the probe failed, or else the error that holds
	// the head of the outbox back.
	LastError string `json:"last_error"`
	// SyncedElsewhere is set while another process that has the DB open
	// (an app) holds its sync lock: it sends the outbox and syncs, and a
	// writing command's writes are queued for it.
	SyncedElsewhere bool `json:"synced_elsewhere"`
}

// syncedElsewhere reports whether another process holds the sync lock of
// the DB at path, without creating the lock file or keeping any lock.
func syncedElsewhere(path string) bool {
	lock := outpost.SyncLockPath(path)
	if _, err := os.Stat(lock); err != nil {
		return false
	}
	f, err := filelock.TryLock(lock, true)
	if err != nil {
		return errors.Is(err, filelock.ErrLocked)
	}
	f.Close()
	return false
}

var statusCmd = &command{
	name: "status", args: "[--json]",
	summary: "show online, last synced at, pending and failed counts, last error",
	help: `It reads the local DB and, when a server and token are configured, tries
a short connection (--timeout) to say whether the server is reachable. It
does not sync and does not change the DB. It exits 0 whether online or
not; the answer is in the output.

`,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var r readFlags
		r.add(fs, e)
		fs.StringVar(&r.server, "server", e.getenv("OUTPOST_SERVER"), "server `URL` to probe (env OUTPOST_SERVER); none: skip the probe")
		fs.StringVar(&r.token, "token", e.getenv("OUTPOST_TOKEN"), "auth `token` (env OUTPOST_TOKEN)")
		fs.DurationVar(&r.timeout, "timeout", 2*time.Second, "how long to try to connect")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			if r.timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			db, user, err := openLocal(ctx, &r.connFlags)
			if err != nil {
				return err
			}
			defer db.Close()
			out := statusJSON{User: user, DB: r.db, Server: r.server, SyncedElsewhere: syncedElsewhere(r.db)}
			at, ok, err := db.LastSyncedAt(ctx)
			if err != nil {
				return err
			}
			if ok {
				out.LastSyncedAt = timePtr(at)
			}
			if out.Pending, out.Failed, err = db.TaskCounts(ctx); err != nil {
				return err
			}
			if tasks, err := db.PendingTasks(ctx); err == nil && len(tasks) > 0 {
				out.LastError = tasks[0].LastError
			}
			if r.server != "" && r.token != "" {
				out.Checked = true
				if err := probe(ctx, &r.connFlags, user); err != nil {
					out.LastError = err.Error()
				} else {
					out.Online = true
				}
			}
			if r.json {
				return writeJSON(e.stdout, out)
			}
			online := "not checked (no --server and --token)"
			if out.Checked {
				online = fmt.Sprintf("%v (%s)", out.Online, out.Server)
			}
			var last time.Time
			if out.LastSyncedAt != nil {
				last = *out.LastSyncedAt
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "user:\t%s\n", out.User)
			fmt.Fprintf(tw, "db:\t%s\n", out.DB)
			fmt.Fprintf(tw, "online:\t%s\n", online)
			fmt.Fprintf(tw, "last synced at:\t%s\n", fmtTime(last))
			fmt.Fprintf(tw, "pending:\t%d\n", out.Pending)
			fmt.Fprintf(tw, "failed:\t%d\n", out.Failed)
			if out.SyncedElsewhere {
				fmt.Fprintf(tw, "synced by:\tanother process that has this DB open (writes here are queued for it)\n")
			}
			if out.LastError != "" {
				fmt.Fprintf(tw, "last error:\t%s\n", oneLine(out.LastError))
			}
			return tw.Flush()
		}
	},
}

// probe tries one connection to the server with a bare client, which
// touches no DB, and says why it failed.
func probe(ctx context.Context, o *connFlags, user string) error {
	c, err := client.New(client.Config{ServerURL: o.server, UserID: user, Token: o.token, Logger: o.logger()})
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	why, err := connectQuick(ctx, c, o.timeout)
	switch {
	case err == nil:
		return nil
	case why != "":
		return fmt.Errorf("server %s unreachable (%s)", o.server, why)
	}
	return connectError(o.server, err)
}
