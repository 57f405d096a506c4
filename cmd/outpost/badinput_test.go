package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

// files reads path and its SQLite side files, to show a failed command
// changed nothing.
func files(tb testing.TB, path string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		out[suffix] = b
	}
	return out
}

func sameFiles(tb testing.TB, path string, before map[string][]byte) {
	tb.Helper()
	after := files(tb, path)
	if len(after) != len(before) {
		tb.Errorf("%s: files changed: %d before, %d after", path, len(before), len(after))
	}
	for k, b := range before {
		if !bytes.Equal(after[k], b) {
			tb.Errorf("%s%s changed", path, k)
		}
	}
}

func noFile(tb testing.TB, path string) {
	tb.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			tb.Errorf("%s%s exists after a failed command (%v)", path, suffix, err)
		}
	}
}

// readOnlyDir returns a folder no file can be created in, even as root.
func readOnlyDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.Chmod(dir, 0o755) })
	if f, err := os.Create(filepath.Join(dir, "probe")); err != nil {
		return dir
	} else {
		f.Close()
		os.Remove(filepath.Join(dir, "probe"))
	}
	// Root writes through permissions; /sys is read-only in a container.
	if f, err := os.Create("/sys/outpost-probe.db"); err == nil {
		f.Close()
		os.Remove("/sys/outpost-probe.db")
		tb.Skip("no read-only folder available")
	}
	return "/sys"
}

func TestBadInput_ExistingDBUnchanged(t *testing.T) {
	url, down := startPausableServer(t)
	cid := makeChannel(t, url, "alice", "general")
	env := userEnv(t, url, "alice")
	db := env["OUTPOST_DB"]
	wantOK(t, cli(t, env, "sync"))
	wantOK(t, cli(t, env, "send", cid, "kept"))
	// One write waits in the outbox, so a lost or doubled one would show.
	down.Store(true)
	r := cli(t, env, "send", "--timeout", "100ms", cid, "queued")
	down.Store(false)
	wantOK(t, r)
	queuedID := strings.TrimSpace(r.stdout)
	before := files(t, db)

	other, _ := token.Issue([]byte("another-secret"), "alice", time.Hour)
	expired, _ := token.IssueAt([]byte(testSecret), "alice", time.Minute, time.Now().Add(-time.Hour))
	dead := apitest.DeadURL(t)
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"unknown flag", env, []string{"send", "--bogus", cid, "x"}, exitUsage, "flag provided but not defined: --bogus"},
		{"unknown command", env, []string{"sned", cid, "x"}, exitUsage, `unknown command "sned"`},
		{"missing text", env, []string{"send", cid}, exitUsage, "missing TEXT"},
		{"too many args", env, []string{"send", cid, "a", "b"}, exitUsage, `unexpected argument "b" (want CID TEXT; quote a text with spaces)`},
		{"too many ids", env, []string{"react", cid, "m1", "like", "love"}, exitUsage, `unexpected argument "love" (want CID MSGID TYPE)` + "\n"},
		{"argument to token", env, []string{"token", "mint", "--user", "alice"}, exitUsage, `unexpected argument "mint" (token takes flags only, such as --user ID`},
		{"argument to a command of flags", env, []string{"status", "now"}, exitUsage, `unexpected argument "now" (the command takes flags only)`},
		{"bad cid", env, []string{"send", "general", "x"}, exitUsage, "CID"},
		{"bad limit", env, []string{"messages", cid, "--limit", "-1"}, exitUsage, "--limit"},
		{"missing token", with(env, "OUTPOST_TOKEN", ""), []string{"send", cid, "x"}, exitUsage, "no token"},
		{"missing server", with(env, "OUTPOST_SERVER", ""), []string{"sync"}, exitUsage, "no server"},
		{"bad server url", with(env, "OUTPOST_SERVER", "localhost:8080"), []string{"sync"}, exitUsage, "--server"},
		{"another url, unreachable", with(env, "OUTPOST_SERVER", dead), []string{"sync", "--timeout", "200ms"}, exitOffline, "unreachable"},
		{"another server", with(env, "OUTPOST_SERVER", startServer(t)), []string{"sync"}, exitDB, "not the server the DB holds the data of"},
		{"wrong secret sync", with(env, "OUTPOST_TOKEN", other), []string{"sync"}, exitAuth, "refused the token"},
		{"wrong secret watch", with(env, "OUTPOST_TOKEN", other), []string{"watch"}, exitAuth, "refused the token"},
		{"another user's db", with(env, "OUTPOST_USER", "bob", "OUTPOST_TOKEN", mint(t, "bob")), []string{"send", cid, "x"}, exitDB, "holds the data of user alice"},
		{"another user's db read", with(env, "OUTPOST_USER", "bob"), []string{"pending"}, exitDB, "holds the data of user alice"},
		{"unknown channel", env, []string{"messages", "team:nope"}, exitError, "no channel team:nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantFail(t, cli(t, tt.env, tt.args...), tt.code, tt.want)
			sameFiles(t, db, before)
		})
	}

	// A write is stored before the network is tried: with a refused token
	// it stays queued (and is sent by a command with a good one).
	wantFail(t, cli(t, with(env, "OUTPOST_TOKEN", other), "send", cid, "x"), exitAuth, "refused the token")
	wantFail(t, cli(t, with(env, "OUTPOST_TOKEN", expired), "edit", cid, queuedID, "y"), exitAuth, "stays queued")

	// The outbox holds the queued write (the edit folded into it) and the
	// send made with the refused token.
	r = cli(t, env, "pending", "--json")
	wantOK(t, r)
	var p struct {
		Pending []taskJSON `json:"pending"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Pending) != 2 || p.Pending[0].MessageID != queuedID {
		t.Errorf("outbox after the failures = %+v, want %s and the send", p.Pending, queuedID)
	}
}

func TestBadInput_DBPath(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general")
	base := userEnv(t, url, "alice")
	ro := readOnlyDir(t)

	notDB := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notDB, []byte("shopping list: milk, eggs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serverDB := filepath.Join(t.TempDir(), "server.db")
	st, err := sqlitestore.Open(context.Background(), serverDB, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	missingFolder := filepath.Join(t.TempDir(), "no", "such", "folder", "a.db")
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	other, _ := token.Issue([]byte("another-secret"), "alice", time.Hour)
	for _, tt := range []struct {
		name string
		db   string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"missing folder send", missingFolder, base, []string{"send", cid, "x"}, exitDB, "does not exist"},
		{"missing folder sync", missingFolder, base, []string{"sync"}, exitDB, "does not exist"},
		{"missing folder read", missingFolder, base, []string{"channels"}, exitDB, "does not exist"},
		{"read-only folder send", filepath.Join(ro, "a.db"), base, []string{"send", cid, "x"}, exitDB, "a.db"},
		{"read-only folder sync", filepath.Join(ro, "a.db"), base, []string{"sync"}, exitDB, "a.db"},
		{"not a db send", notDB, base, []string{"send", cid, "x"}, exitDB, "not an Outpost DB"},
		{"not a db sync", notDB, base, []string{"sync"}, exitDB, "not an Outpost DB"},
		{"not a db read", notDB, base, []string{"messages", cid}, exitDB, "not an Outpost DB"},
		{"not a db status", notDB, base, []string{"status"}, exitDB, "not an Outpost DB"},
		{"server db send", serverDB, base, []string{"send", cid, "x"}, exitDB, "server DB"},
		{"server db read", serverDB, base, []string{"failed", "--json"}, exitDB, "server DB"},
		{"no db yet read", fresh, base, []string{"channels"}, exitDB, "no Outpost DB"},
		{"no db yet pending", fresh, base, []string{"pending"}, exitDB, "no Outpost DB"},
		{"no db unreachable sync", fresh, with(base, "OUTPOST_SERVER", apitest.DeadURL(t)), []string{"sync", "--timeout", "100ms"}, exitOffline, "unreachable"},
		{"no db refused send", fresh, with(base, "OUTPOST_TOKEN", other), []string{"send", cid, "x"}, exitAuth, "refused the token"},
		{"no db given", "", base, []string{"channels"}, exitUsage, "no local DB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := files(t, tt.db)
			wantFail(t, cli(t, with(tt.env, "OUTPOST_DB", tt.db), tt.args...), tt.code, tt.want)
			if len(before) == 0 {
				noFile(t, tt.db)
			} else {
				sameFiles(t, tt.db, before)
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(missingFolder)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a command created the missing folder")
	}
}
