package migrations

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Migration is one versioned step of a schema.
type Migration struct {
	Version int    // 1, 2, 3, ... with no gaps
	Name    string // description, from the file name
	SQL     string // one or more statements
}

func (m Migration) checksum() string {
	sum := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(sum[:])
}

// Set is a named sequence of migrations. The name keeps its versions apart
// from other sets in the same database.
type Set struct {
	Name       string
	Migrations []Migration
}

// Latest returns the highest version in the set, or 0 for an empty set.
func (s Set) Latest() int {
	if len(s.Migrations) == 0 {
		return 0
	}
	return s.Migrations[len(s.Migrations)-1].Version
}

//go:embed sql/local/*.sql
var localFS embed.FS

// Local returns the migration set of the SDK's local store (offlinedb).
func Local() Set {
	sub, err := fs.Sub(localFS, "sql/local")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	s, err := Load("outpost_local", sub)
	if err != nil {
		panic(err) // a test checks the embedded set loads
	}
	return s
}

// Load reads a set from the .sql files at the root of fsys. Each file is
// named NNNN_description.sql, where NNNN is its version; versions must run
// 1, 2, 3, ... with no gaps or repeats. Other files are ignored.
func Load(name string, fsys fs.FS) (Set, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return Set{}, fmt.Errorf("migrations: read set %q: %w", name, err)
	}
	s := Set{Name: name}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, desc, ok := strings.Cut(base, "_")
		v, convErr := strconv.Atoi(num)
		if !ok || convErr != nil || v <= 0 || desc == "" {
			return Set{}, fmt.Errorf("%w: %q: file %q is not named NNNN_description.sql", ErrBadSet, name, e.Name())
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return Set{}, fmt.Errorf("migrations: read %q: %w", e.Name(), err)
		}
		s.Migrations = append(s.Migrations, Migration{Version: v, Name: desc, SQL: string(data)})
	}
	sort.Slice(s.Migrations, func(i, j int) bool { return s.Migrations[i].Version < s.Migrations[j].Version })
	if err := s.validate(); err != nil {
		return Set{}, err
	}
	return s, nil
}

func (s Set) validate() error {
	if s.Name == "" {
		return fmt.Errorf("%w: the set has no name", ErrBadSet)
	}
	for i, m := range s.Migrations {
		if m.Version != i+1 {
			return fmt.Errorf("%w: %q: expected version %d, found %d (versions must run 1, 2, 3, ... with no gaps or repeats)",
				ErrBadSet, s.Name, i+1, m.Version)
		}
		if strings.TrimSpace(m.SQL) == "" {
			return fmt.Errorf("%w: %q: migration %d has no SQL", ErrBadSet, s.Name, m.Version)
		}
	}
	return nil
}

const createTable = `CREATE TABLE IF NOT EXISTS outpost_migrations (
	set_name   TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	checksum   TEXT    NOT NULL,
	applied_at INTEGER NOT NULL,
	PRIMARY KEY (set_name, version)
)`

// Apply brings the database up to the latest version of each set, in the
// order given. It returns a *NewerSchemaError, before changing anything, if
// the database is ahead of a set, and a *ChecksumError if an applied
// migration's SQL has changed.
//
// Each migration runs in its own BEGIN IMMEDIATE transaction on one
// connection; if another process applies it first, Apply sees that under
// the lock and moves on.
func Apply(ctx context.Context, db *sql.DB, sets ...Set) error {
	for _, s := range sets {
		if err := s.validate(); err != nil {
			return err
		}
	}
	conn, err := connect(ctx, db)
	if err != nil {
		return fmt.Errorf("migrations: get connection: %w", err)
	}
	defer conn.Close()

	if _, err := conn.ExecContext(ctx, createTable); err != nil {
		return fmt.Errorf("migrations: create table: %w", err)
	}
	// Check every set before touching any, so a newer database is refused
	// whole rather than half-upgraded.
	for _, s := range sets {
		if err := check(ctx, conn, s); err != nil {
			return err
		}
	}
	for _, s := range sets {
		for _, m := range s.Migrations {
			if err := applyOne(ctx, conn, s, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// connect gets a connection, retrying while SQLite answers SQLITE_BUSY:
// when several processes open a new file at once, a connection's first
// pragmas (switching the file to WAL) can be refused without waiting on
// the busy timeout.
func connect(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	delay := 5 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := db.Conn(ctx)
		if err == nil || !IsBusy(err) || time.Now().After(deadline) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// IsBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED.
func IsBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// Version returns the highest applied version of the named set, or 0.
func Version(ctx context.Context, db *sql.DB, setName string) (int, error) {
	var exists int
	err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'outpost_migrations'`).Scan(&exists)
	if err != nil {
		return 0, fmt.Errorf("migrations: read version: %w", err)
	}
	if exists == 0 {
		return 0, nil
	}
	var v int
	err = db.QueryRowContext(ctx,
		`SELECT coalesce(max(version), 0) FROM outpost_migrations WHERE set_name = ?`, setName).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("migrations: read version: %w", err)
	}
	return v, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// applied returns the checksums of the applied migrations of a set by
// version.
func applied(ctx context.Context, q querier, set string) (map[int]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, checksum FROM outpost_migrations WHERE set_name = ?`, set)
	if err != nil {
		return nil, fmt.Errorf("migrations: read applied: %w", err)
	}
	defer rows.Close()
	out := make(map[int]string)
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("migrations: read applied: %w", err)
		}
		out[v] = sum
	}
	return out, rows.Err()
}

func check(ctx context.Context, q querier, s Set) error {
	done, err := applied(ctx, q, s.Name)
	if err != nil {
		return err
	}
	maxV := 0
	for v := range done {
		maxV = max(maxV, v)
	}
	if maxV > s.Latest() {
		return &NewerSchemaError{Set: s.Name, DBVersion: maxV, Known: s.Latest()}
	}
	for _, m := range s.Migrations {
		if sum, ok := done[m.Version]; ok && sum != m.checksum() {
			return &ChecksumError{Set: s.Name, Version: m.Version, Name: m.Name}
		}
	}
	return nil
}

func applyOne(ctx context.Context, conn *sql.Conn, s Set, m Migration) (err error) {
	// database/sql's BeginTx cannot ask for IMMEDIATE, so the transaction
	// is driven by hand on this one connection.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("migrations: %s %d: begin: %w", s.Name, m.Version, err)
	}
	defer func() {
		if err != nil {
			// Use a fresh context: the caller's may be the reason we fail.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	// Check again under the write lock: another process may have applied
	// this migration, or newer ones, since check ran.
	if err := check(ctx, conn, s); err != nil {
		return err
	}
	var n int
	if err := conn.QueryRowContext(ctx,
		`SELECT count(*) FROM outpost_migrations WHERE set_name = ? AND version = ?`, s.Name, m.Version).Scan(&n); err != nil {
		return fmt.Errorf("migrations: %s %d: %w", s.Name, m.Version, err)
	}
	if n > 0 {
		_, err = conn.ExecContext(ctx, "COMMIT")
		return err
	}
	if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migrations: %s %d (%s): %w", s.Name, m.Version, m.Name, err)
	}
	if _, err := conn.ExecContext(ctx,
		`INSERT INTO outpost_migrations (set_name, version, name, checksum, applied_at) VALUES (?, ?, ?, ?, ?)`,
		s.Name, m.Version, m.Name, m.checksum(), time.Now().UnixNano()); err != nil {
		return fmt.Errorf("migrations: %s %d: record: %w", s.Name, m.Version, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("migrations: %s %d: commit: %w", s.Name, m.Version, err)
	}
	return nil
}
