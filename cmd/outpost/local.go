package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/access"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/syncmanager"
)

func osGetenv(name string) string { return os.Getenv(name) }

// connFlags are the settings shared by the commands: where the local DB
// is, and who talks to which server. Flags win over the environment.
type connFlags struct {
	server, user, token, db string
	timeout                 time.Duration
	verbose                 bool
	stderr                  io.Writer
	// history is how much of each channel's history the session's syncs
	// fetch: the whole of it (the zero value) unless a command says.
	history syncmanager.HistoryPolicy
}

// addLocal defines --db and --user, enough for the reading commands.
func (o *connFlags) addLocal(fs *flag.FlagSet, e *env) {
	o.stderr = e.stderr
	fs.StringVar(&o.db, "db", e.getenv("OUTPOST_DB"), "local DB `file` (env OUTPOST_DB)")
	fs.StringVar(&o.user, "user", e.getenv("OUTPOST_USER"), "user `id` (env OUTPOST_USER); reading commands default to the DB's user")
}

// addServer defines the server settings on top of addLocal's.
func (o *connFlags) addServer(fs *flag.FlagSet, e *env) {
	o.addLocal(fs, e)
	fs.StringVar(&o.server, "server", e.getenv("OUTPOST_SERVER"), "server `URL` (env OUTPOST_SERVER)")
	fs.StringVar(&o.token, "token", e.getenv("OUTPOST_TOKEN"), "auth `token` (env OUTPOST_TOKEN)")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "how long to try to connect before working offline")
	fs.BoolVar(&o.verbose, "verbose", false, "log the SDK's work on stderr")
}

func (o *connFlags) logger() *slog.Logger {
	if o.verbose && o.stderr != nil {
		return slog.New(slog.NewTextHandler(o.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// needServer checks the settings a command that talks to the server needs.
func (o *connFlags) needServer() error {
	switch {
	case o.db == "":
		return usageErrorf("no local DB: give --db or set OUTPOST_DB")
	case o.user == "":
		return usageErrorf("no user: give --user or set OUTPOST_USER")
	case o.server == "":
		return usageErrorf("no server: give --server or set OUTPOST_SERVER")
	case o.token == "":
		return usageErrorf("no token: give --token or set OUTPOST_TOKEN (mint one with 'outpost token')")
	case o.timeout <= 0:
		return usageErrorf("--timeout must be positive")
	}
	u, err := url.Parse(o.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErrorf("--server %q: want an http:// or https:// URL", o.server)
	}
	return nil
}

// dbState is what checkDB found at the DB path.
type dbState int

const (
	dbMissing dbState = iota // no file: opening creates it
	dbEmpty                  // a new store, or an empty file that becomes one
	dbOutpost                // an Outpost client store
)

const sqliteHeader = "SQLite format 3\x00"

// checkDB looks at the DB path without changing anything, so that a bad
// path fails before the SDK would create, migrate or claim the file: the
// folder must exist, and an existing file must be an Outpost client store
// (or empty). It returns the DB's recorded users.
func checkDB(ctx context.Context, path string) (dbState, []string, error) {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return 0, nil, withCode(exitDB, fmt.Errorf("db %s: folder %s does not exist", path, dir))
	case !st.IsDir():
		return 0, nil, withCode(exitDB, fmt.Errorf("db %s: %s is not a folder", path, dir))
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return dbMissing, nil, nil
	}
	if err != nil {
		return 0, nil, withCode(exitDB, fmt.Errorf("db %s: %v", path, err))
	}
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	fi, serr := f.Stat()
	f.Close()
	if serr == nil && fi.IsDir() {
		return 0, nil, withCode(exitDB, fmt.Errorf("db %s is a folder, not a file", path))
	}
	if n == 0 && errors.Is(err, io.EOF) {
		return dbEmpty, nil, nil
	}
	if !bytes.Equal(head[:n], []byte(sqliteHeader)) {
		return 0, nil, withCode(exitDB, fmt.Errorf("db %s is not an Outpost DB (not a SQLite file); left untouched", path))
	}
	// Look inside, reading only: which migration sets and users it holds.
	// The connection is read-write (mode=rw never creates a file) because
	// a read-only one to a WAL database leaves -wal and -shm files behind;
	// a read-write one that writes nothing removes them on close and
	// leaves the file's bytes as they were.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=rw&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, nil, withCode(exitDB, fmt.Errorf("db %s: %v", path, err))
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil {
		return 0, nil, withCode(exitDB, fmt.Errorf("db %s cannot be read: %v; left untouched", path, err))
	}
	if tables == 0 || begunInPlace(ctx, db) {
		return dbEmpty, nil, nil
	}
	var sets []string
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT set_name FROM outpost_migrations`)
	if err == nil {
		for rows.Next() {
			var s string
			if rows.Scan(&s) == nil {
				sets = append(sets, s)
			}
		}
		err = errors.Join(rows.Err(), rows.Close())
	}
	if err != nil || !slices.Contains(sets, "outpost_local") {
		what := "not an Outpost client DB"
		if slices.Contains(sets, "outpost_server") {
			what = "an Outpost server DB, not a client DB"
		}
		return 0, nil, withCode(exitDB, fmt.Errorf("db %s is %s; left untouched", path, what))
	}
	var users []string
	if rows, err := db.QueryContext(ctx, `SELECT user_id FROM local_user ORDER BY added_at, user_id`); err == nil {
		for rows.Next() {
			var u string
			if rows.Scan(&u) == nil {
				users = append(users, u)
			}
		}
		rows.Close()
	}
	return dbOutpost, users, nil
}

// begunInPlace reports whether the DB holds nothing but an empty migrations
// table: a store the SDK began to make in place (from an empty file, or
// by an older version) and did not finish. Opening it finishes it.
func begunInPlace(ctx context.Context, db *sql.DB) bool {
	var tables, rows int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name != 'outpost_migrations'`).Scan(&tables)
	if err != nil || tables != 0 {
		return false
	}
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM outpost_migrations`).Scan(&rows)
	return err == nil && rows == 0
}

// checkUser refuses a DB that holds another user's data: its channels and
// outbox are that user's.
func checkUser(path, user string, users []string) error {
	if len(users) > 0 && !slices.Contains(users, user) {
		return withCode(exitDB, fmt.Errorf("db %s holds the data of user %s, not %s; use another --db", path, users[0], user))
	}
	return nil
}

// openLocal opens an existing client DB for reading, without the network.
// With no --user it takes the DB's own user.
func openLocal(ctx context.Context, o *connFlags) (*store.DB, string, error) {
	if o.db == "" {
		return nil, "", usageErrorf("no local DB: give --db or set OUTPOST_DB")
	}
	state, users, err := checkDB(ctx, o.db)
	if err != nil {
		return nil, "", err
	}
	if state != dbOutpost {
		return nil, "", withCode(exitDB, fmt.Errorf("no Outpost DB at %s yet: run 'outpost sync' or a writing command first", o.db))
	}
	user := o.user
	if user == "" {
		if len(users) == 0 {
			return nil, "", withCode(exitDB, fmt.Errorf("db %s records no user: give --user", o.db))
		}
		user = users[0]
	}
	if err := checkUser(o.db, user, users); err != nil {
		return nil, "", err
	}
	db, err := openStore(ctx, o.db, user, o.logger())
	if err != nil {
		return nil, "", err
	}
	return db, user, nil
}

// openStore opens the client DB at path for user. The store reads and
// writes only its bound user's outbox and positions; a store bound
// already is not written to (Bind only checks it), one made before stores
// recorded their identity is bound to user, as the SDK's Open would.
func openStore(ctx context.Context, path, user string, log *slog.Logger) (*store.DB, error) {
	db, err := store.Open(ctx, path, offlinedb.Options{Logger: log})
	if err != nil {
		return nil, withCode(exitDB, err)
	}
	if err := db.Bind(ctx, user, false); err != nil {
		db.Close()
		return nil, withCode(exitDB, err)
	}
	return db, nil
}

// session is an open SDK client for the commands that talk to the server.
type session struct {
	*outpost.Client
	online  bool
	created bool // this run created the DB file
	path    string
	// why says why the server could not be reached ("connection
	// refused", ...), when it could not.
	why string
}

// openSession checks the settings and the DB, opens the SDK without
// waiting for the network, lets before register listeners (so they hear
// the first connection and sync), then tries to connect for o.timeout.
// An unreachable server leaves it offline (online false); a refused token
// is an error. On error it removes a DB file it created, so a failed
// command leaves nothing behind.
func openSession(ctx context.Context, o *connFlags, before func(*outpost.Client)) (*session, error) {
	s, err := openOffline(ctx, o, before)
	if err != nil {
		return nil, err
	}
	if err := s.connect(ctx, o); err != nil {
		return nil, err
	}
	return s, nil
}

// openOffline is openSession without the connection: it checks the
// settings and the DB and opens the SDK, offline.
func openOffline(ctx context.Context, o *connFlags, before func(*outpost.Client)) (*session, error) {
	if err := o.needServer(); err != nil {
		return nil, err
	}
	state, users, err := checkDB(ctx, o.db)
	if err != nil {
		return nil, err
	}
	if err := checkUser(o.db, o.user, users); err != nil {
		return nil, err
	}
	s := &session{created: state == dbMissing, path: o.db}
	c, err := outpost.Open(ctx, outpost.Config{
		ServerURL: o.server, UserID: o.user, Token: o.token, DBPath: o.db,
		// Open does not wait for the network: we connect below, to
		// tell offline from refused.
		Logger: o.logger(),
		Client: client.Config{MinReconnectDelay: 100 * time.Millisecond, MaxReconnectDelay: 2 * time.Second},
		Sync:   syncmanager.Options{History: o.history},
	})
	if err != nil {
		s.removeCreated()
		if isAuthError(err) {
			// A refusal can come back before Open stops waiting.
			return nil, connectError(o.server, err)
		}
		return nil, withCode(exitDB, err)
	}
	s.Client = c
	if before != nil {
		before(c)
	}
	return s, nil
}

// connect tries to connect for o.timeout. The first failed attempt ends
// the wait (the client keeps trying in the background) and says why in
// s.why; an unreachable server leaves the session offline. A refused
// token is an error: the session is closed (see fail).
func (s *session) connect(ctx context.Context, o *connFlags) error {
	why, err := connectQuick(ctx, access.Conn(s.Client), o.timeout)
	switch {
	case err == nil:
		s.online = true
	case why != "":
		// Offline: the client keeps trying in the background.
		s.why = why
	case ctx.Err() != nil:
		// Interrupted: what the command stored so far stays.
		s.Close(ctx)
		return connectError(o.server, err)
	default:
		s.fail()
		return connectError(o.server, err)
	}
	return nil
}

// connectQuick connects c, waiting at most timeout; the first failed
// attempt ends the wait (the client keeps trying in the background). It
// returns nil when connected; why, when the server is unreachable (then
// err is ctx's); or the error that stopped the client (a refused token) or
// interrupted the wait.
func connectQuick(ctx context.Context, c *client.Client, timeout time.Duration) (why string, err error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex // guards first
	var first string
	unsub := c.OnError(func(ev client.ErrorEvent) {
		if ev.Permanent {
			return // Connect returns it
		}
		mu.Lock()
		if first == "" {
			first = unreachableReason(ev.Err)
		}
		mu.Unlock()
		cancel()
	})
	err = c.Connect(cctx)
	unsub()
	if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return "", err
	}
	mu.Lock()
	defer mu.Unlock()
	if first == "" {
		first = fmt.Sprintf("no connection within %s", timeout)
	}
	return first, err
}

// unreachableReason says in a few words why a connection attempt failed.
func unreachableReason(err error) string {
	var dns *net.DNSError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return fmt.Sprintf("unknown host %s (DNS)", dns.Name)
		}
		return fmt.Sprintf("DNS lookup of %s failed: %v", dns.Name, dns.Err)
	case errors.As(err, &rh):
		return "TLS handshake failed: the server does not speak TLS (try http://)"
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn):
		return "TLS handshake failed: certificate not trusted: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http makes this error from a tls.RecordHeaderError with
		// errors.New: there is no type to match.
		return "TLS handshake failed: the server does not speak TLS (try http://)"
	}
	return oneLine(err.Error())
}

// fail closes the session after a command failed before it wrote
// anything, and removes the DB file if this run created it.
func (s *session) fail() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing to drain: close at once
	s.Close(ctx)
	s.removeCreated()
}

func (s *session) removeCreated() {
	if s.created {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(s.path + suffix)
		}
	}
}

// syncerWait bounds how long 'outpost sync' waits for another process
// syncing the same DB (another command, which ends soon) to let go of it.
const syncerWait = 10 * time.Second

// awaitSync runs sync (a drain and sync) as the process that syncs the
// DB. While another process holds the sync lock (an app with the DB open,
// or another command) it polls, until ctx ends: done, whether there is
// nothing left to wait for (the other process sent what this command
// wrote), and the lock, taken over when that process goes. It returns
// syncmanager.ErrNotSyncer when ctx ended with the lock still held
// elsewhere, and nil when done said so.
func (s *session) awaitSync(ctx context.Context, sync func(context.Context) error, done func() bool) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := sync(ctx)
		if !errors.Is(err, syncmanager.ErrNotSyncer) {
			return err
		}
		for !s.Status().Syncer {
			if done != nil && done() {
				return nil
			}
			select {
			case <-ctx.Done():
				return syncmanager.ErrNotSyncer
			case <-tick.C:
			}
		}
	}
}
