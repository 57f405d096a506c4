package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/access"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// channelCount is what a sync summary compares per channel.
type channelCount struct {
	seq      int64
	messages int
}

// snapshot reads each channel's last applied sequence number and count of
// live messages the server has (so a queued message counts once it is
// sent).
func snapshot(ctx context.Context, db *store.DB) (map[string]channelCount, error) {
	chans, err := db.Channels(ctx, offlinedb.ChannelsQuery{Limit: 1 << 20, IncludeHidden: true})
	if err != nil {
		return nil, err
	}
	out := make(map[string]channelCount, len(chans))
	for _, c := range chans {
		out[c.CID] = channelCount{seq: c.LastSeq}
	}
	// offlinedb has no message count per channel; count with one query
	// through its public SQLX handle rather than loading every message.
	rows, err := db.SQLDB().QueryContext(ctx, `SELECT cid, count(*) FROM messages WHERE deleted_at IS NULL AND status = 'sent' GROUP BY cid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cid string
		var n int
		if err := rows.Scan(&cid, &n); err != nil {
			return nil, err
		}
		c := out[cid]
		c.messages = n
		out[cid] = c
	}
	return out, rows.Err()
}

// syncChannelJSON is one channel in 'outpost sync --json'.
type syncChannelJSON struct {
	CID string `json:"cid"`
	// New is set for a channel the local DB did not hold before.
	New bool `json:"new"`
	// NewMessages is the change in live messages (negative when more were
	// deleted than added); Events is how far the channel's event
	// sequence moved.
	NewMessages int   `json:"new_messages"`
	Messages    int   `json:"messages"`
	Events      int64 `json:"events"`
}

// syncJSON is 'outpost sync --json'.
type syncJSON struct {
	User         string            `json:"user"`
	LastSyncedAt *time.Time        `json:"last_synced_at"`
	Events       int64             `json:"events"`
	Channels     []syncChannelJSON `json:"channels"` // only the ones that changed
	// Sent counts the queued writes the server took during this sync;
	// Pending and Failed are the outbox and failed list after it.
	Sent    int `json:"sent"`
	Pending int `json:"pending"`
	Failed  int `json:"failed"`
}

var syncCmd = &command{
	name: "sync", args: "[--json]",
	summary: "send the outbox, catch up with the server, print what changed",
	help: `It connects (up to --timeout), sends the writes waiting in the outbox in
order, syncs every channel and prints, per channel that changed, the new
messages and events applied, then the outbox's pending and failed counts.
Progress goes to stderr: a counter of events applied on a terminal, plain
lines otherwise. An unreachable server exits 3 and changes nothing.
`,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var o connFlags
		o.addServer(fs, e)
		asJSON := fs.Bool("json", false, "print one JSON document")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			if err := o.needServer(); err != nil {
				return err
			}
			before := map[string]channelCount{}
			var pendingBefore, failedBefore int
			if state, users, err := checkDB(ctx, o.db); err != nil {
				return err
			} else if err := checkUser(o.db, o.user, users); err != nil {
				return err
			} else if state == dbOutpost {
				// Read before the SDK opens: it may sync as soon as the
				// connection is up.
				db, err := openStore(ctx, o.db, o.user, o.logger())
				if err != nil {
					return err
				}
				before, err = snapshot(ctx, db)
				if err == nil {
					pendingBefore, failedBefore, err = db.TaskCounts(ctx)
				}
				db.Close()
				if err != nil {
					return err
				}
			}

			prog := newProgress(e.stderr)
			var unsub func()
			s, err := openSession(ctx, &o, func(c *outpost.Client) { unsub = c.OnStatus(prog.update) })
			if err != nil {
				return err
			}
			defer s.Close(ctx)
			defer unsub()
			if !s.online {
				s.fail()
				return withCode(exitOffline, fmt.Errorf("server %s unreachable (%s); nothing synced", o.server, s.why))
			}
			wctx, cancel := context.WithTimeout(ctx, syncerWait)
			err = s.awaitSync(wctx, s.SyncNow, nil)
			cancel()
			prog.finish()
			switch {
			case errors.Is(err, syncmanager.ErrNotSyncer) && ctx.Err() == nil:
				// An app with the DB open syncs it; what it holds is
				// as current as that app's last sync.
				fmt.Fprintln(e.stderr, "not synced by this command: another process that has this DB open syncs it")
				err = nil
			case errors.Is(err, syncmanager.ErrOffline):
				return withCode(exitOffline, fmt.Errorf("lost the connection to %s; run sync again", o.server))
			case err != nil && ctx.Err() != nil:
				return errors.New("interrupted; what was applied is kept")
			case err != nil:
				return fmt.Errorf("sync failed: %w", err)
			}

			after, err := snapshot(ctx, access.Store(s.Client))
			if err != nil {
				return err
			}
			out := syncJSON{User: o.user, Channels: []syncChannelJSON{}}
			if at, ok, err := access.Store(s.Client).LastSyncedAt(ctx); err == nil && ok {
				out.LastSyncedAt = timePtr(at)
			}
			if out.Pending, out.Failed, err = access.Store(s.Client).TaskCounts(ctx); err != nil {
				return err
			}
			out.Sent = max(pendingBefore-out.Pending-(out.Failed-failedBefore), 0)
			for cid, a := range after {
				b, had := before[cid]
				ch := syncChannelJSON{CID: cid, New: !had, NewMessages: a.messages - b.messages,
					Messages: a.messages, Events: a.seq - b.seq}
				if ch.New || ch.NewMessages != 0 || ch.Events != 0 {
					out.Channels = append(out.Channels, ch)
					out.Events += max(ch.Events, 0)
				}
			}
			sort.Slice(out.Channels, func(i, j int) bool { return out.Channels[i].CID < out.Channels[j].CID })
			if *asJSON {
				return writeJSON(e.stdout, out)
			}
			if len(out.Channels) == 0 {
				fmt.Fprintln(e.stdout, "up to date")
			}
			for _, c := range out.Channels {
				if c.New {
					fmt.Fprintf(e.stdout, "%s (new): %d messages\n", c.CID, c.Messages)
					continue
				}
				fmt.Fprintf(e.stdout, "%s: %+d messages (%d now), %d events\n", c.CID, c.NewMessages, c.Messages, c.Events)
			}
			var last time.Time
			if out.LastSyncedAt != nil {
				last = *out.LastSyncedAt
			}
			fmt.Fprintf(e.stdout, "synced at %s; outbox: %d sent, %d pending, %d failed\n", fmtTime(last), out.Sent, out.Pending, out.Failed)
			return nil
		}
	},
}

// progress shows sync progress on stderr: a counter bar on a terminal,
// a plain line per page otherwise. The server does not say how much is
// left, so it counts events applied.
type progress struct {
	mu    sync.Mutex // guards the fields below
	bar   *progressbar.ProgressBar
	w     io.Writer
	done  int // events of the sync runs already finished
	last  syncmanager.Progress
	pages int // pages reported so far, for the plain lines
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("syncing: 0 events applied"),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// update is an OnStatus listener. A sync run restarts Progress at zero,
// so runs are added up.
func (p *progress) update(s syncmanager.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Progress.Events < p.last.Events || s.Progress.Pages < p.last.Pages {
		p.done += p.last.Events
	}
	p.last = s.Progress
	total := p.done + s.Progress.Events
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("syncing: %d events applied", total))
		_ = p.bar.Set(total)
		return
	}
	if s.Progress.Pages > 0 && s.Progress.Pages != p.pages {
		p.pages = s.Progress.Pages
		fmt.Fprintf(p.w, "sync: page %d, %d events applied\n", s.Progress.Pages, total)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

var watchCmd = &command{
	name: "watch", args: "[--json]", jsonLines: true,
	summary: "stay connected and print events and status changes until Ctrl-C",
	help: `It prints every event the server sends (new messages, edits, reactions,
...) and every change of the connection and sync status, until SIGINT or
SIGTERM, then exits 0. The local DB is kept in sync meanwhile. When the
server cannot be reached it says so and keeps retrying.

What a sync catches up on (when watch starts, and after each reconnect)
is printed too, once it is in the local DB: a "caught up" line per message
that arrived or changed while away, or, for a large catch-up, one line per
channel that changed.

--json prints one JSON object per line: {"kind":"event","event":{...}},
{"kind":"caught_up","message":{...}} (the message as stored now),
{"kind":"caught_up","channels":[...],"many":true} for a large catch-up,
or {"kind":"status",...}.
`,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var o connFlags
		o.addServer(fs, e)
		asJSON := fs.Bool("json", false, "print one JSON object per line")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			w := &watcher{out: e.stdout, json: *asJSON}
			var unsubs []func()
			s, err := openSession(ctx, &o, func(c *outpost.Client) {
				w.db = access.Store(c)
				unsubs = append(unsubs, access.Conn(c).OnAll(w.event), c.OnStatus(w.status), c.OnChange(w.change))
			})
			if err != nil {
				return err
			}
			if s.online {
				fmt.Fprintf(e.stderr, "watching %s as %s; Ctrl-C to stop\n", o.server, o.user)
			} else {
				fmt.Fprintf(e.stderr, "offline: %s unreachable (%s); retrying in the background; Ctrl-C to stop\n", o.server, s.why)
			}
			<-ctx.Done()
			for _, u := range unsubs {
				u()
			}
			if err := s.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}
	},
}

// watcher prints events, what syncs caught up on, and status changes;
// the SDK calls it from its dispatcher goroutines.
type watcher struct {
	out  io.Writer
	json bool
	db   *store.DB // to read what a sync caught up on

	mu   sync.Mutex // guards the fields below and out
	last *statusLine
}

// statusLine is a status change in 'outpost watch --json'.
type statusLine struct {
	Kind      string `json:"kind"` // "status"
	Online    bool   `json:"online"`
	Synced    bool   `json:"synced"`
	Pending   int    `json:"pending"`
	Failed    int    `json:"failed"`
	LastError string `json:"last_error"`
}

func (w *watcher) event(ev client.Event) {
	switch ev.Type {
	case protocol.EventHealthCheck, client.EventConnectionChanged, client.EventConnectionRecovered:
		return // shown as status changes
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.json {
		b, err := json.Marshal(struct {
			Kind  string         `json:"kind"`
			Event protocol.Event `json:"event"`
		}{"event", ev.Event})
		if err == nil {
			fmt.Fprintf(w.out, "%s\n", b)
		}
		return
	}
	at := ev.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	line := fmt.Sprintf("%s %s %s", at.Local().Format("15:04:05"), ev.Type, ev.CID)
	switch {
	case ev.Message != nil:
		line += fmt.Sprintf(" %s %s: %s", ev.Message.ID, ev.Message.UserID, oneLine(ev.Message.Text))
	case ev.Reaction != nil:
		line += fmt.Sprintf(" %s %s on %s", ev.Reaction.UserID, ev.Reaction.Type, ev.Reaction.MessageID)
	case ev.UserID != "":
		line += " " + ev.UserID
	}
	fmt.Fprintln(w.out, line)
}

func (w *watcher) status(s syncmanager.Status) {
	st := &statusLine{Kind: "status", Online: s.Online, Synced: s.Synced, Pending: s.Pending, Failed: s.Failed}
	if s.LastError != nil {
		st.LastError = oneLine(s.LastError.Error())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last != nil && *w.last == *st {
		return // a progress tick, not a change worth a line
	}
	w.last = st
	if w.json {
		if b, err := json.Marshal(st); err == nil {
			fmt.Fprintf(w.out, "%s\n", b)
		}
		return
	}
	line := fmt.Sprintf("%s status: online=%v synced=%v pending=%d failed=%d",
		time.Now().Format("15:04:05"), st.Online, st.Synced, st.Pending, st.Failed)
	if st.LastError != "" {
		line += " error: " + st.LastError
	}
	fmt.Fprintln(w.out, line)
}

// caughtUpLine is what a sync caught up on, in 'outpost watch --json':
// one message as it is stored now, or, for a large catch-up (Many) or a
// reset of the local cache, the channels that changed.
type caughtUpLine struct {
	Kind     string             `json:"kind"` // "caught_up"
	Message  *offlinedb.Message `json:"message,omitempty"`
	Channels []string           `json:"channels,omitempty"`
	Many     bool               `json:"many,omitempty"`
	Reset    bool               `json:"reset,omitempty"`
}

// change prints what a sync brought into the local DB: the messages a
// sync page or a channel's refetched state added or changed. Live events
// are printed by event as they arrive, so their messages are skipped
// here.
func (w *watcher) change(c syncmanager.Change) {
	if !c.Kind.Has(syncmanager.ChangeSync) && !c.Kind.Has(syncmanager.ChangeReset) {
		return
	}
	if c.Many || c.Reset {
		if len(c.Channels) > 0 || c.Reset {
			w.caughtUp(caughtUpLine{Kind: "caught_up", Channels: c.Channels, Many: c.Many, Reset: c.Reset})
		}
		return
	}
	live := map[string]bool{}
	for _, ev := range c.Events {
		if ev.Message != nil {
			live[ev.Message.ID] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var msgs []offlinedb.Message
	for _, id := range c.Messages {
		if live[id] {
			continue
		}
		m, err := w.db.Message(ctx, id)
		if err != nil {
			continue // gone since (a later change says so) or not a message
		}
		msgs = append(msgs, m)
	}
	// In the order they were posted in each channel.
	sort.SliceStable(msgs, func(i, j int) bool {
		if msgs[i].CID != msgs[j].CID {
			return msgs[i].CID < msgs[j].CID
		}
		return msgs[i].Seq < msgs[j].Seq
	})
	for i := range msgs {
		w.caughtUp(caughtUpLine{Kind: "caught_up", Message: &msgs[i]})
	}
}

func (w *watcher) caughtUp(l caughtUpLine) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.json {
		if b, err := json.Marshal(l); err == nil {
			fmt.Fprintf(w.out, "%s\n", b)
		}
		return
	}
	now := time.Now().Format("15:04:05")
	switch {
	case l.Message != nil:
		m := l.Message
		text := oneLine(m.Text)
		if m.DeletedAt != nil {
			text = "(deleted)"
		}
		fmt.Fprintf(w.out, "%s caught up %s %s %s: %s\n", m.CreatedAt.Local().Format("15:04:05"), m.CID, m.ID, m.UserID, text)
	case l.Reset:
		fmt.Fprintf(w.out, "%s caught up: the local DB was refilled from the server (%d channels)\n", now, len(l.Channels))
	default:
		fmt.Fprintf(w.out, "%s caught up: many changes in %s\n", now, strings.Join(l.Channels, ", "))
	}
}
