package pgstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/outpostsync/outpost/server/pgstore/pgtest"
	"github.com/outpostsync/outpost/server/storetest"
)

// TestOpen_RedactsWhatWasRemovedBefore: a database of the schema before
// redaction opens with what was removed already redacted (see
// storetest.RedactionUpgradeRows).
func TestOpen_RedactsWhatWasRemovedBefore(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, createMigrationsTable); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:4] {
		if _, err := conn.Exec(ctx, m.sql); err != nil {
			t.Fatalf("migration %s: %v", m.name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO outpost_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
			m.version, m.name, m.checksum); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range storetest.RedactionUpgradeRows {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	st, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.CheckRedactionUpgrade(t, st)
}
