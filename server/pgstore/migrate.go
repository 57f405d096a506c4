package pgstore

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// migrateLockKey is the advisory lock that serialises migrations of
// nodes starting at once.
const migrateLockKey = 0x6f75_7470_6d69_6772 // "outpmigr"

// createMigrationsTable makes the table of the migrations applied.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS outpost_migrations (
	version    integer PRIMARY KEY,
	name       text    NOT NULL,
	checksum   text    NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

type migration struct {
	version  int
	name     string
	sql      string
	checksum string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(schemaFS, "schema")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("pgstore: migration %q: want NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(schemaFS, "schema/"+name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: name, sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("pgstore: migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate applies the migrations the database has not seen, in one
// transaction under an advisory lock: a node that starts beside another
// waits for it, then finds the schema applied. A database that records a
// newer version than this code knows, or a changed migration, is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version, checksum FROM outpost_migrations ORDER BY version`)
		if err != nil {
			return err
		}
		applied := map[int]string{}
		var v int
		var sum string
		if _, err := pgx.ForEachRow(rows, []any{&v, &sum}, func() error { applied[v] = sum; return nil }); err != nil {
			return err
		}
		for v := range applied {
			if v > len(ms) {
				return fmt.Errorf("pgstore: the database schema is at version %d, newer than this code's %d", v, len(ms))
			}
		}
		for _, m := range ms {
			if sum, ok := applied[m.version]; ok {
				if sum != m.checksum {
					return fmt.Errorf("pgstore: migration %s changed after it was applied", m.name)
				}
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO outpost_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
				m.version, m.name, m.checksum); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}
