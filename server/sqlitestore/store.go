package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the database/sql driver

	"github.com/outpostsync/outpost/internal/stmtcache"
	"github.com/outpostsync/outpost/migrations"
	"github.com/outpostsync/outpost/server"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// ErrLocked is returned by Open and OpenShared when another Store holds
// the database in a way that excludes this one: another outpostd serving
// the same file.
var ErrLocked = errors.New("sqlitestore: database in use")

// Store is the SQLite Store. It is safe for concurrent use.
type Store struct {
	path  string
	db    *sqlx.DB
	stmts *stmtcache.Cache
	now   func() time.Time
	lock  *os.File // the lock file, held until Close

	// wmu queues this instance's writers in process instead of in
	// SQLite's busy loop. Correctness does not rest on it: SQLite's write
	// lock orders the writes of every instance on the file.
	wmu     sync.Mutex
	readers chan struct{} // bounds concurrent reads (see open)
}

// schemaSet names the server's migrations in the database.
const schemaSet = "outpost_server"

// Open opens (creating if missing) the store at path, for this process
// alone: it fails with ErrLocked if another Store has the file open. now
// is the server's clock; nil means time.Now. A path in a folder that does
// not exist, and a database of another schema (ErrNotServerDB), are
// refused with an error that says so.
func Open(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	return open(ctx, path, now, false)
}

// OpenShared is Open for a Store that shares its file with other
// OpenShared Stores, as several server nodes on one database would. It
// fails with ErrLocked while a Store opened with Open holds the file.
func OpenShared(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	return open(ctx, path, now, true)
}

func open(ctx context.Context, path string, now func() time.Time, shared bool) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := checkFolder(path); err != nil {
		return nil, err
	}
	lock, err := lockFile(path+".lock", shared)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "synchronous(normal)")
	q.Set("_txlock", "immediate")
	db, err := openPrivate(path, q)
	if err != nil {
		lock.Close()
		return nil, err
	}
	fail := func(err error) (*Store, error) {
		db.Close()
		lock.Close()
		return nil, err
	}
	var mode string
	if err := db.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
		return fail(fmt.Errorf("sqlitestore: open %s: journal mode %q: %v", path, mode, err))
	}
	if err := checkServerDB(ctx, db, path); err != nil {
		return fail(err)
	}
	sub, _ := fs.Sub(schemaFS, "schema")
	set, err := migrations.Load(schemaSet, sub)
	if err != nil {
		return fail(err)
	}
	if err := migrations.Apply(ctx, db.DB, set); err != nil {
		return fail(err)
	}
	// Each SQLite connection keeps its own page cache: a thousand clients
	// syncing at once would open a thousand connections and hundreds of
	// megabytes of cache for no gain on a few cores. Reads wait for one
	// of a few slots instead.
	return &Store{path: path, db: db, stmts: stmtcache.New(db, 256), now: now, lock: lock,
		readers: make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))}, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// ServerID returns the id made with the database.
func (s *Store) ServerID(ctx context.Context) (string, error) {
	var id string
	if err := s.db.QueryRowxContext(ctx, `SELECT server_id FROM server_identity WHERE id = 1`).Scan(&id); err != nil {
		return "", fmt.Errorf("sqlitestore: server id: %w", err)
	}
	return id, nil
}

// Close closes the database and releases its lock.
func (s *Store) Close() error {
	s.stmts.Close()
	err := s.db.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newEpoch returns a fresh random log epoch.
func newEpoch() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Update runs fn in one write transaction.
func (s *Store) Update(ctx context.Context, fn func(tx server.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sqlTx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	t := &tx{tx: sqlTx, st: s.stmts.Tx(sqlTx), ctx: ctx, now: s.clock()}
	committed := false
	defer func() {
		if !committed {
			// fn failed or panicked: without this, a panic would leave
			// the transaction, and SQLite's write lock, held for good.
			_ = sqlTx.Rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction (a snapshot).
func (s *Store) View(ctx context.Context, fn func(tx server.Tx) error) error {
	select {
	case s.readers <- struct{}{}:
		defer func() { <-s.readers }()
	case <-ctx.Done():
		return ctx.Err()
	}
	sqlTx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(&tx{tx: sqlTx, st: s.stmts.Tx(sqlTx), ctx: ctx, now: s.clock()})
}

// Prune cuts every log's head by age and, for channels, by count, and
// forgets old idempotency keys, in one transaction.
func (s *Store) Prune(ctx context.Context, before time.Time, maxPerChannel int) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var n int
	err := func() error {
		tx, err := s.db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, l := range []struct {
			log    *logTable
			maxLen int
		}{{channelLog, maxPerChannel}, {feedLog, 0}} {
			k, err := l.log.prune(ctx, tx, before.UnixMicro(), l.maxLen)
			if err != nil {
				return err
			}
			n += k
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE created_at < ?`, before.UnixMicro()); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: prune: %w", err)
	}
	return n, nil
}

var _ server.Store = (*Store)(nil)
