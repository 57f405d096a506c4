// Command outpostd runs the Outpost reference sync server on an embedded
// SQLite database, or, as one of several nodes, on PostgreSQL.
//
//	go run ./cmd/outpostd                       # dev: 127.0.0.1:8080, ./outpost-server.db, a fresh dev secret
//	outpostd --addr :8443 --db /var/lib/outpost/server.db --secret "$SECRET" --retention 720h \
//		--tls-cert cert.pem --tls-key key.pem --allowed-origins https://app.example.com
//	outpostd --addr :8081 --db postgres://outpost@db.internal/outpost --secret "$SECRET"  # one node of several
//
// Record rules (docs/PROTOCOL.md, "Records") are a JSON file, installed in
// the store at start with --rules FILE, or into a running cluster's
// Postgres with the install-rules command; every node applies them from
// its next record write. A file that does not compile is refused with
// its file, line and reason, and the rules in force stay:
//
//	outpostd install-rules --db postgres://outpost@db.internal/outpost rules.json
//
// --db is a file path (SQLite, the default) or a postgres:// URL. On
// Postgres, any number of nodes serve one database: each delivers the
// others' writes to its own connections live. A node whose Postgres is
// unreachable answers 503 with a temporary error code, and serves again
// by itself when it returns; /healthz reports the store and whether it
// answers.
//
// Every flag has an environment variable: OUTPOST_ADDR, OUTPOST_DB,
// OUTPOST_SECRET, OUTPOST_RETENTION, OUTPOST_TOKEN_LEEWAY,
// OUTPOST_WRITE_RATE, OUTPOST_WRITE_BURST, OUTPOST_SYNC_RATE,
// OUTPOST_MAX_CONNS, OUTPOST_LOG_LEVEL, OUTPOST_TLS_CERT, OUTPOST_TLS_KEY,
// OUTPOST_ALLOWED_ORIGINS, OUTPOST_RULES. It serves the API, the web page at /, GET
// /events, /metrics and /readyz, and logs one line per request. One
// outpostd serves a database file: a second one on the same file is
// refused at start (Postgres has no such limit). On SIGINT or SIGTERM it stops taking requests, lets
// the ones in flight finish, closes WebSockets and streams, and exits.
// --help exits 0; a usage error exits 2 with the usage.
package main
