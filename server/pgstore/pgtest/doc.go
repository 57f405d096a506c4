// Package pgtest gives tests a PostgreSQL database of their own, on the
// server named by OUTPOST_PG_DSN (scripts/postgres.sh starts one and
// prints it). Without it, tests that need Postgres skip, saying why;
// with OUTPOST_PG_REQUIRE=1 (CI) they fail instead.
//
// Each test binary gets its own database, created on first use; each
// call of DSN gets a fresh, empty schema in it, named in the returned
// DSN's search_path.
package pgtest
