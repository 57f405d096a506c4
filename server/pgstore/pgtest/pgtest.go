package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable with the server's DSN.
const EnvDSN = "OUTPOST_PG_DSN"

var (
	once   sync.Once
	dbDSN  string // this binary's database
	dbErr  error
	schema atomic.Int64
)

// Server returns the DSN of the Postgres server from the environment, or
// skips tb (fails it when OUTPOST_PG_REQUIRE=1) when there is none.
func Server(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("OUTPOST_PG_REQUIRE") == "1" {
			tb.Fatalf("%s is not set and OUTPOST_PG_REQUIRE=1: start Postgres with scripts/postgres.sh", EnvDSN)
		}
		tb.Skipf("no Postgres: %s is not set (eval \"$(bash scripts/postgres.sh start)\" starts one)", EnvDSN)
	}
	return dsn
}

// Database returns the DSN of this test binary's own database, created
// on first use.
func Database(tb testing.TB) string {
	tb.Helper()
	server := Server(tb)
	once.Do(func() { dbDSN, dbErr = createDatabase(server) })
	if dbErr != nil {
		tb.Fatalf("pgtest: %v", dbErr)
	}
	return dbDSN
}

// DSN returns the DSN of a fresh, empty schema in this test binary's
// database.
func DSN(tb testing.TB) string {
	tb.Helper()
	db := Database(tb)
	name := fmt.Sprintf("t%d_%d", schema.Add(1), time.Now().UnixNano()%1e6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return withParam(db, "search_path", name)
}

func createDatabase(server string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	pkg := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")), "_")
	name := fmt.Sprintf("outpost_%s_%d_%d", pkg, os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s: want a postgres:// URL", EnvDSN)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func withParam(dsn, name, value string) string {
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}
