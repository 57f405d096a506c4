package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/syncmanager"
)

// historyJSON is 'outpost history --json'.
type historyJSON struct {
	CID string `json:"cid"`
	// Loaded counts the older messages this run stored; Held the
	// channel's messages the local DB holds after it.
	Loaded int `json:"loaded"`
	Held   int `json:"held"`
	// Complete is set when the local DB holds the channel's history from
	// its start.
	Complete bool `json:"complete"`
}

var historyCmd = &command{
	name: "history", args: "CID [--older N] [--json]",
	summary: "load a channel's older messages from the server into the local DB",
	help: `It connects (up to --timeout), syncs, and loads the N messages just
older than the oldest the local DB holds of the channel, joined to the
rest. 'outpost sync' brings every channel's whole history already; this
is for a DB an app filled with only the recent messages. It prints how
many it loaded and whether the DB now holds the history from its start.
An unreachable server exits 3 and changes nothing.
`,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var o connFlags
		o.addServer(fs, e)
		// The session's own syncs fetch no older history: this command
		// loads what it is asked for.
		o.history = syncmanager.HistoryRecent(1)
		older := fs.Int("older", 200, "how many older messages to load")
		asJSON := fs.Bool("json", false, "print one JSON document")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, "CID"); err != nil {
				return err
			}
			if *older <= 0 {
				return usageErrorf("--older must be positive")
			}
			cid := args[0]
			s, err := openSession(ctx, &o, nil)
			if err != nil {
				return err
			}
			defer s.Close(ctx)
			if !s.online {
				s.fail()
				return withCode(exitOffline, fmt.Errorf("server %s unreachable (%s); nothing loaded", o.server, s.why))
			}
			if err := s.SyncNow(ctx); err != nil {
				return withCode(exitOffline, fmt.Errorf("sync failed: %w", err))
			}
			msgs, err := s.LoadOlder(ctx, cid, *older)
			switch {
			case errors.Is(err, outpost.ErrNeedsNetwork):
				return withCode(exitOffline, fmt.Errorf("lost the connection to %s; nothing loaded", o.server))
			case errors.Is(err, offlinedb.ErrNotFound):
				return fmt.Errorf("no channel %s on the server for %s (see 'outpost channels')", cid, o.user)
			case err != nil:
				return err
			}
			h, err := s.HeldHistory(ctx, cid)
			if err != nil {
				return err
			}
			out := historyJSON{CID: cid, Loaded: len(msgs), Held: h.Messages, Complete: h.Complete()}
			if *asJSON {
				return writeJSON(e.stdout, out)
			}
			more := "older messages on the server"
			if out.Complete {
				more = "the whole history"
			}
			fmt.Fprintf(e.stdout, "%s: loaded %d older messages; %d held, %s\n", cid, out.Loaded, out.Held, more)
			return nil
		}
	},
}
