package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/outpostsync/outpost/internal/stmtcache"
	"github.com/outpostsync/outpost/migrations"
)

// DB is an open local store. It is safe for concurrent use.
type DB struct {
	db     *sqlx.DB
	stmts  *stmtcache.Cache
	path   string
	log    *slog.Logger
	now    func() time.Time
	closed atomic.Bool
	// user is the user the store is bound to (see Bind); nil until then.
	user atomic.Pointer[string]

	ignored atomic.Int64 // events of unknown type seen by EventQueries

	// writes is this store's turn to write: one write of the process at
	// a time holds it, and the others wait for it in the order they came
	// (a channel serves its waiting senders first come, first served).
	// Without it the writers of one process meet only in SQLite's busy
	// handler, which retries by sleeping: a writer that commits again at
	// once, as live events are applied one transaction after another,
	// holds the lock at nearly every retry, and another writer (the sync
	// storing a page) waits out the busy timeout and fails. Writers of
	// other processes on the file still meet in the busy handler.
	writes chan struct{}

	origin  string     // this open store's id in the change log
	watchMu sync.Mutex // guards watch
	watch   *sql.Conn  // the connection DataVersion asks; nil until then

	closeOnce sync.Once
	closeErr  error
}

// maxCachedStmts bounds the prepared statements kept per store: the
// event templates at each merged row count (see mergedRows), and the
// fixed queries.
const maxCachedStmts = 2048

var sqliteHeader = []byte("SQLite format 3\x00")

// Open opens the store at path, creating it (mode 0600) if it does not
// exist, and brings its schema up to date.
//
// A new store is created atomically: it appears at path whole, migrated,
// or not at all, so a process killed while creating it leaves nothing that
// a later Open (or the outpost CLI) would refuse, and any number of
// processes may open a new path at once. A store begun in place (an empty
// file given to Open, or one an older version started) is finished by the
// next Open.
//
// A file that is not a SQLite database, or is corrupt, gives an *OpenError
// wrapping ErrNotDatabase and is never overwritten, unless opts.MoveAside is
// set. A store written by a newer version of the SDK gives an error wrapping
// migrations.ErrNewerSchema and is not touched.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if path == "" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, &OpenError{Path: path, Err: errors.New("path must be a plain file path")}
	}

	d, err := open(ctx, path, opts)
	if err == nil || !opts.MoveAside || !errors.Is(err, ErrNotDatabase) {
		return d, err
	}
	moved, mvErr := moveAside(path, opts.Now())
	if mvErr != nil {
		return nil, &OpenError{Path: path, Err: fmt.Errorf("%w; moving it aside failed: %v", err, mvErr)}
	}
	opts.Logger.Warn("offlinedb: store was unusable; moved aside and starting fresh",
		"path", path, "moved_to", moved, "error", err)
	d, err = open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func open(ctx context.Context, path string, opts Options) (*DB, error) {
	fail := func(err error) (*DB, error) {
		switch {
		case isNotDatabase(err):
			err = fmt.Errorf("%w: %v", ErrNotDatabase, err)
		case isNotWritable(err):
			err = fmt.Errorf("%w: %w", ErrNotWritable, err)
		}
		return nil, &OpenError{Path: path, Err: err}
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		if err := createAtomically(ctx, path, opts); err != nil {
			return fail(err)
		}
	}
	if err := checkFile(path); err != nil {
		return fail(err)
	}

	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(normal)")
	q.Add("_pragma", "cache_size(-32000)")
	// A merged multi-row statement keeps a statement journal (to undo
	// itself alone if it fails halfway); in memory, it never spills to a
	// temporary file, a write system call per page the statement touches.
	q.Add("_pragma", "temp_store(memory)")
	// Write transactions take the lock at BEGIN, so two writers never
	// deadlock upgrading from a read lock.
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()

	sdb, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return fail(err)
	}
	d := &DB{db: sdb, stmts: stmtcache.New(sdb, maxCachedStmts), path: path, log: opts.Logger, now: opts.Now,
		writes: make(chan struct{}, 1), origin: NewTaskID()}
	// The first connection switches a new file to WAL; another process
	// doing the same at that moment makes it fail with SQLITE_BUSY, which
	// passes on a retry.
	err = d.checkPragmas(ctx, opts.BusyTimeout)
	for delay := 5 * time.Millisecond; err != nil && migrations.IsBusy(err) && delay < 2*time.Second; delay *= 2 {
		select {
		case <-ctx.Done():
			sdb.Close()
			return fail(ctx.Err())
		case <-time.After(delay):
		}
		err = d.checkPragmas(ctx, opts.BusyTimeout)
	}
	if err != nil {
		sdb.Close()
		return fail(err)
	}
	sets := append([]migrations.Set{migrations.Local()}, opts.Migrations...)
	if err := migrations.Apply(ctx, sdb.DB, sets...); err != nil {
		sdb.Close()
		return fail(err)
	}
	// A store bound by an earlier run is bound to its user at once.
	if user, ok, err := d.Identity(ctx); err != nil {
		sdb.Close()
		return fail(err)
	} else if ok {
		d.user.Store(&user)
	}
	return d, nil
}

// checkFile refuses an existing file that does not start with the SQLite
// header. An empty file is taken, and becomes a store in place.
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF) {
		return nil // an empty file becomes a new database
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if !bytes.Equal(head[:n], sqliteHeader) {
		return fmt.Errorf("%w: %s has no SQLite header", ErrNotDatabase, path)
	}
	return nil
}

func (d *DB) checkPragmas(ctx context.Context, busy time.Duration) error {
	var mode string
	if err := d.db.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("%w: journal_mode is %q, want wal", ErrPragma, mode)
	}
	var timeout int64
	if err := d.db.GetContext(ctx, &timeout, "PRAGMA busy_timeout"); err != nil {
		return err
	}
	if timeout != busy.Milliseconds() {
		return fmt.Errorf("%w: busy_timeout is %d, want %d", ErrPragma, timeout, busy.Milliseconds())
	}
	var fk int
	if err := d.db.GetContext(ctx, &fk, "PRAGMA foreign_keys"); err != nil {
		return err
	}
	if fk != 1 {
		return fmt.Errorf("%w: foreign_keys is %d, want 1", ErrPragma, fk)
	}
	return nil
}

func isNotDatabase(err error) bool {
	if errors.Is(err, ErrNotDatabase) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return true
		}
	}
	return false
}

// isNotWritable reports whether err says the store's file or folder
// cannot be written: permissions, a read-only file system, or SQLite
// finding it so.
func isNotWritable(err error) bool {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN:
			return true
		}
	}
	return false
}

func moveAside(path string, now time.Time) (string, error) {
	dst := fmt.Sprintf("%s.corrupt-%d", path, now.UnixNano())
	if err := os.Rename(path, dst); err != nil {
		return "", err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, dst+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dst, err
		}
	}
	return dst, nil
}

// Path returns the file the store lives in.
func (d *DB) Path() string { return d.path }

// IgnoredEvents returns how many events of unknown type EventQueries (and
// so ApplyEvent) has ignored since Open.
func (d *DB) IgnoredEvents() int64 { return d.ignored.Load() }

// IntegrityCheck runs PRAGMA integrity_check and returns nil when it says
// "ok".
func (d *DB) IntegrityCheck(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	var lines []string
	if err := d.db.SelectContext(ctx, &lines, "PRAGMA integrity_check"); err != nil {
		return err
	}
	if len(lines) == 1 && lines[0] == "ok" {
		return nil
	}
	return fmt.Errorf("%w: integrity_check: %s", ErrNotDatabase, strings.Join(lines, "; "))
}

// Close closes the store. It is safe to call more than once; later calls
// return the first call's error.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.closeWatch()
		d.stmts.Close()
		d.closeErr = d.db.Close()
	})
	return d.closeErr
}

// SQLDB returns the underlying database handle, for an app's queries on
// its own tables (see Options.Migrations). Writes to the tables the store
// owns through it bypass its versions, overlays and outbox.
func (d *DB) SQLDB() *sql.DB { return d.db.DB }
