package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/outpostsync/outpost/token"
)

var tokenCmd = &command{
	name: "token", args: "--user ID [--secret S] [--ttl 24h]",
	summary: "mint a token for a dev server",
	help: `Prints a token that names the user, signed with the server's secret.
The secret is the one outpostd runs with: its --secret flag or the
OUTPOST_SECRET variable, which both commands read. An outpostd started
without one makes a fresh dev secret and prints it in its first log line;
pass that here. A --ttl of 0 makes a token that does not expire.
`,
	setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
		user := fs.String("user", e.getenv("OUTPOST_USER"), "user `id` the token names (env OUTPOST_USER)")
		secret := fs.String("secret", e.getenv("OUTPOST_SECRET"), "the server's token `secret` (env OUTPOST_SECRET)")
		ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid; 0 means forever")
		asJSON := fs.Bool("json", false, "print the token as JSON")
		return func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q (token takes flags only, such as --user ID; see 'outpost help token')", args[0])
			}
			switch {
			case *user == "":
				return usageErrorf("token: no user: give --user or set OUTPOST_USER")
			case *secret == "":
				return usageErrorf("token: no secret: give --secret or set OUTPOST_SECRET to the server's secret (outpostd logs its dev secret at start)")
			case *ttl < 0:
				return usageErrorf("token: --ttl must not be negative")
			}
			now := time.Now()
			tok, err := token.IssueAt([]byte(*secret), *user, *ttl, now)
			if err != nil {
				return err
			}
			if !*asJSON {
				fmt.Fprintln(e.stdout, tok)
				return nil
			}
			out := struct {
				Token     string     `json:"token"`
				User      string     `json:"user"`
				ExpiresAt *time.Time `json:"expires_at"` // null: never
			}{Token: tok, User: *user}
			if *ttl > 0 {
				exp := now.Add(*ttl).UTC().Truncate(time.Second)
				out.ExpiresAt = &exp
			}
			return writeJSON(e.stdout, out)
		}
	},
}
