package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/protocol"
)

const channelHelp = `ACTIONS
  create [USER...]     create a channel with you as its owner and the USERs
                       as members; prints its cid (TYPE:ID). --type (default
                       messaging), --id (default: a new random id), --name.
                       Creating a channel you are a member of again changes
                       nothing and prints its cid.
  add CID USER...      add members (owner or moderator)
  remove CID USER...   remove members (owner, or a moderator removing members)
  leave CID            leave the channel (not its owner)
  hide CID             hide the channel from your channel list, on all your
                       devices ('outpost channels' leaves it out) until 'show'
  show CID             show a hidden channel again
  update CID           set the channel's --name (and --extra JSON object)

Unlike the writing commands, these need the server: they are not queued.
When it cannot be reached they exit 3 and change nothing. On success the
local DB holds the change at once ('outpost channels' lists it); the other
members' devices learn of it on their next sync. A refusal (not a member,
a role that may not, no such channel) exits 1 with the server's message.
With --json the outcome is one JSON object on stdout:
  {"action": "create", "cid": "messaging:ab12", "users": ["bob"]}
`

// channelFlags are the flags of 'outpost channel'.
type channelFlags struct {
	connFlags
	typ, id, name, extra string
	json                 bool
}

// channelResult is the JSON outcome of 'outpost channel'.
type channelResult struct {
	Action string   `json:"action"`
	CID    string   `json:"cid"`
	Users  []string `json:"users,omitempty"`
}

var channelCmd = &command{
	name: "channel", args: "create|add|remove|leave|hide|show|update [CID] [USER...] [flags]",
	summary: "create a channel, add or remove members, leave, hide, show, rename (needs the server)",
	help:    channelHelp,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		var f channelFlags
		f.addServer(fs, e)
		fs.StringVar(&f.typ, "type", outpost.DefaultChannelType, "create: the channel's `type`")
		fs.StringVar(&f.id, "id", "", "create: the channel's `id` within its type (default: a new random id)")
		fs.StringVar(&f.name, "name", "", "create, update: the channel's display `name`")
		fs.StringVar(&f.extra, "extra", "", "create, update: the channel's extra data, a JSON `object`")
		fs.BoolVar(&f.json, "json", false, "print the outcome as JSON")
		return func(ctx context.Context, args []string) error {
			return runChannel(ctx, e, &f, args)
		}
	},
}

// channelAction is one action of 'outpost channel': the arguments it
// takes after the action's name, and what it does.
type channelAction struct {
	cid   bool // takes a CID first
	users int  // minimum USER arguments (-1: none allowed)
	do    func(ctx context.Context, c *outpost.Client, f *channelFlags, cid string, users []string) (string, error)
}

var channelActions = map[string]channelAction{
	"create": {users: 0, do: func(ctx context.Context, c *outpost.Client, f *channelFlags, _ string, users []string) (string, error) {
		return c.CreateChannel(ctx, outpost.NewChannel{Type: f.typ, ID: f.id, Name: f.name,
			Extra: json.RawMessage(f.extra), Members: users})
	}},
	"add": {cid: true, users: 1, do: func(ctx context.Context, c *outpost.Client, _ *channelFlags, cid string, users []string) (string, error) {
		return cid, c.AddMembers(ctx, cid, users...)
	}},
	"remove": {cid: true, users: 1, do: func(ctx context.Context, c *outpost.Client, _ *channelFlags, cid string, users []string) (string, error) {
		return cid, c.RemoveMembers(ctx, cid, users...)
	}},
	"leave": {cid: true, users: -1, do: func(ctx context.Context, c *outpost.Client, _ *channelFlags, cid string, _ []string) (string, error) {
		return cid, c.LeaveChannel(ctx, cid)
	}},
	"hide": {cid: true, users: -1, do: func(ctx context.Context, c *outpost.Client, _ *channelFlags, cid string, _ []string) (string, error) {
		return cid, c.HideChannel(ctx, cid)
	}},
	"show": {cid: true, users: -1, do: func(ctx context.Context, c *outpost.Client, _ *channelFlags, cid string, _ []string) (string, error) {
		return cid, c.ShowChannel(ctx, cid)
	}},
	"update": {cid: true, users: -1, do: func(ctx context.Context, c *outpost.Client, f *channelFlags, cid string, _ []string) (string, error) {
		return cid, c.UpdateChannel(ctx, cid, outpost.ChannelUpdate{Name: f.name, Extra: json.RawMessage(f.extra)})
	}},
}

// channelActionNames lists the actions in the order the help gives them.
const channelActionNames = "create, add, remove, leave, hide, show or update"

func runChannel(ctx context.Context, e *env, f *channelFlags, args []string) error {
	if len(args) == 0 {
		return usageErrorf("channel: missing action (want %s)", channelActionNames)
	}
	name, args := args[0], args[1:]
	act, ok := channelActions[name]
	if !ok {
		return usageErrorf("channel: unknown action %q (want %s)", name, channelActionNames)
	}
	var cid string
	if act.cid {
		if len(args) == 0 {
			return usageErrorf("channel %s: missing CID", name)
		}
		cid, args = args[0], args[1:]
		if err := protocol.ValidateCID(cid); err != nil {
			return usageErrorf("channel %s: CID %q: %v", name, cid, err)
		}
	}
	switch {
	case act.users < 0 && len(args) > 0:
		return usageErrorf("channel %s: unexpected argument %q", name, args[0])
	case len(args) < act.users:
		return usageErrorf("channel %s: missing USER", name)
	}
	for _, u := range args {
		if err := protocol.ValidateID("user id", u); err != nil {
			return usageErrorf("channel %s: USER %q: %v", name, u, err)
		}
	}
	if name == "create" {
		if err := protocol.ValidateID("--type", f.typ); err != nil {
			return usageErrorf("channel create: %v", err)
		}
		if f.id != "" {
			if err := protocol.ValidateID("--id", f.id); err != nil {
				return usageErrorf("channel create: %v", err)
			}
		}
	}
	if name == "update" && f.name == "" && f.extra == "" {
		return usageErrorf("channel update: give --name or --extra")
	}
	if f.extra != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(f.extra), &obj); err != nil {
			return usageErrorf("channel %s: --extra must be a JSON object: %v", name, err)
		}
	}

	s, err := openSession(ctx, &f.connFlags, nil)
	if err != nil {
		return err
	}
	cid, err = act.do(ctx, s.Client, f, cid, args)
	if err != nil {
		if s.created {
			s.fail()
		} else {
			s.Close(ctx)
		}
		if errors.Is(err, outpost.ErrNeedsNetwork) {
			why := s.why
			if why == "" {
				why = unreachableReason(err)
			}
			return withCode(exitOffline, fmt.Errorf("channel %s: server %s unreachable (%s); nothing changed", name, f.server, why))
		}
		if ae, ok := protocol.AsAPIError(err); ok {
			return withCode(classify(err), fmt.Errorf("channel %s refused by the server: %s (code %d)", name, ae.Message, ae.Code))
		}
		return fmt.Errorf("channel %s: %w", name, err)
	}
	defer s.Close(ctx)
	if f.json {
		return writeJSON(e.stdout, channelResult{Action: name, CID: cid, Users: args})
	}
	switch name {
	case "create":
		fmt.Fprintln(e.stdout, cid)
	case "add", "remove":
		fmt.Fprintf(e.stderr, "%s: %s %s\n", cid, pastTense[name], strings.Join(args, ", "))
	default:
		fmt.Fprintf(e.stderr, "%s: %s\n", cid, pastTense[name])
	}
	return nil
}

var pastTense = map[string]string{
	"add": "added", "remove": "removed", "leave": "left", "hide": "hidden", "show": "shown", "update": "updated",
}
