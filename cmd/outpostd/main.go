package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	var uerr usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		// --help: the usage is printed; asking for it is no failure.
	case errors.As(err, &uerr):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "outpostd:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line: the error and the usage are printed,
// and outpostd exits 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envDuration returns the duration in the environment variable name, or def
// when it is unset or unreadable (the flag's own parse then reports a bad
// value given on the command line).
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// envFloat returns the number in the environment variable name, or def
// when it is unset or unreadable.
func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

// run serves until ctx ends. ready, if not nil, gets the listening
// address once the server accepts connections.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	if len(args) > 0 && args[0] == "install-rules" {
		return installRules(ctx, args[1:], stderr)
	}
	fs := flag.NewFlagSet("outpostd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("OUTPOST_ADDR", "127.0.0.1:8080"), "address to listen on (env OUTPOST_ADDR)")
	dbPath := fs.String("db", envOr("OUTPOST_DB", "outpost-server.db"), "SQLite database file, or a postgres:// URL for several nodes on one database (env OUTPOST_DB)")
	secret := fs.String("secret", envOr("OUTPOST_SECRET", ""), "HS256 token secret; empty makes a dev secret (env OUTPOST_SECRET)")
	retention := fs.String("retention", envOr("OUTPOST_RETENTION", "720h"), "how long events are kept, e.g. 720h (env OUTPOST_RETENTION)")
	leeway := fs.Duration("token-leeway", envDuration("OUTPOST_TOKEN_LEEWAY", 5*time.Second),
		"clock skew allowed on a token's exp, nbf and iat; 0s for none (env OUTPOST_TOKEN_LEEWAY)")
	writeRate := fs.Float64("write-rate", envFloat("OUTPOST_WRITE_RATE", 50),
		"writes per second per user, sustained; 0 for no limit (env OUTPOST_WRITE_RATE)")
	writeBurst := fs.Int("write-burst", int(envFloat("OUTPOST_WRITE_BURST", 200)),
		"writes per user at once, above the rate (env OUTPOST_WRITE_BURST)")
	syncRate := fs.Int("sync-rate", int(envFloat("OUTPOST_SYNC_RATE", 1200)),
		"sync requests per minute per user; 0 for no limit (env OUTPOST_SYNC_RATE)")
	maxConns := fs.Int("max-conns", int(envFloat("OUTPOST_MAX_CONNS", 20)),
		"open WebSockets per user; 0 for no limit (env OUTPOST_MAX_CONNS)")
	logLevel := fs.String("log-level", envOr("OUTPOST_LOG_LEVEL", "info"), "debug, info, warn or error (env OUTPOST_LOG_LEVEL)")
	tlsCert := fs.String("tls-cert", envOr("OUTPOST_TLS_CERT", ""), "TLS certificate file (PEM); with --tls-key, serve HTTPS (env OUTPOST_TLS_CERT)")
	tlsKey := fs.String("tls-key", envOr("OUTPOST_TLS_KEY", ""), "TLS private key file (PEM) (env OUTPOST_TLS_KEY)")
	origins := fs.String("allowed-origins", envOr("OUTPOST_ALLOWED_ORIGINS", ""),
		"comma-separated browser origins besides the server's own that may call the API, e.g. https://app.example.com (env OUTPOST_ALLOWED_ORIGINS)")
	rulesFile := fs.String("rules", envOr("OUTPOST_RULES", ""),
		"record rules file (JSON) to install at start, unless in force already; none keeps the store's (env OUTPOST_RULES)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: outpostd [flags]\n       outpostd install-rules [--db DB] FILE\n\n"+
			"Runs the Outpost sync server on an embedded SQLite database, or on\n"+
			"PostgreSQL (--db postgres://...) as one of several nodes: the API,\n"+
			"the web page at /, GET /events, /metrics and /readyz.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err} // flag has printed it, and the usage
	}
	bad := func(format string, a ...any) error {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(fs.Output(), "outpostd:", err)
		fs.Usage()
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return bad("unexpected arguments: %v", fs.Args())
	}
	if *leeway < 0 {
		return usageError{fmt.Errorf("--token-leeway %v: want zero or more", *leeway)}
	}
	if *leeway == 0 {
		*leeway = -1 // server.Config: negative means none
	}
	if *writeRate < 0 || *writeBurst < 1 || *syncRate < 0 || *maxConns < 0 {
		return usageError{errors.New("--write-rate, --sync-rate and --max-conns want zero (no limit) or more, --write-burst one or more")}
	}
	cfg := server.Config{WritesPerSecond: *writeRate, WriteBurst: *writeBurst, SyncsPerMinute: *syncRate, MaxConnsPerUser: *maxConns}
	// On the command line 0 means no limit; in server.Config, negative.
	if cfg.WritesPerSecond == 0 {
		cfg.WritesPerSecond = -1
	}
	for _, v := range []*int{&cfg.SyncsPerMinute, &cfg.MaxConnsPerUser} {
		if *v == 0 {
			*v = -1
		}
	}
	keep, err := time.ParseDuration(*retention)
	if err != nil || keep <= 0 {
		return bad("--retention %q: want a positive duration such as 720h", *retention)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return bad("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return bad("--tls-cert and --tls-key go together")
	}
	var allowed []string
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return bad("--allowed-origins: %q is not an origin such as https://app.example.com", o)
		}
		allowed = append(allowed, o)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *secret == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		*secret = hex.EncodeToString(b[:])
		log.Warn("no --secret given: using a fresh dev secret; tokens die with this process",
			"secret", *secret, "mint_a_token", "token.Issue([]byte(secret), userID, ttl) from github.com/outpostsync/outpost/token")
	}

	if *tlsCert != "" {
		// Load them now, so a bad file fails at start, not at the first
		// handshake.
		if _, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey); err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	if *rulesFile != "" {
		r, err := readRules(*rulesFile)
		if err != nil {
			return err
		}
		cfg.Rules = &r
	}
	store, dbName, err := openStore(ctx, *dbPath, log)
	if err != nil {
		return err
	}
	defer store.Close()
	cfg.Store, cfg.Secret, cfg.Retention, cfg.Logger, cfg.TokenLeeway = store, []byte(*secret), keep, log, *leeway
	cfg.AllowedOrigins = allowed
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Close()
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(func() { srv.Close() })
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	log.Info("outpostd listening", "url", scheme+"://"+ln.Addr().String(), "db", dbName, "retention", keep,
		"write_rate", *writeRate, "write_burst", *writeBurst, "sync_rate", *syncRate, "max_conns", *maxConns)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			errc <- hs.ServeTLS(ln, *tlsCert, *tlsKey)
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("outpostd shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	srv.Close()
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// isPostgres reports whether --db names a Postgres database.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the store --db names, and returns it with the name to
// log (a URL without its password). A Postgres that does not answer yet
// is waited for, with a message every few seconds, until ctx ends: nodes
// may start before their database.
func openStore(ctx context.Context, db string, log *slog.Logger) (server.Store, string, error) {
	if !isPostgres(db) {
		st, err := sqlitestore.Open(ctx, db, nil)
		if err != nil {
			return nil, "", err
		}
		return sqliteInfo{st}, db, nil
	}
	name := db
	if u, err := url.Parse(db); err == nil {
		name = u.Redacted()
	}
	wait := 200 * time.Millisecond
	for {
		st, err := pgstore.Open(ctx, db, pgstore.Options{Logger: log})
		if err == nil {
			return st, name, nil
		}
		if !errors.Is(err, server.ErrStoreUnavailable) {
			return nil, "", err
		}
		log.Warn("waiting for Postgres", "db", name, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, "", err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// sqliteInfo names the SQLite store in /healthz.
type sqliteInfo struct{ *sqlitestore.Store }

func (sqliteInfo) Kind() string { return "sqlite" }

func (s sqliteInfo) Ping(ctx context.Context) error {
	return s.View(ctx, func(server.Tx) error { return nil })
}

// readRules reads and checks a record rules file; its errors name the
// file, the line and the reason.
func readRules(path string) (server.Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return server.Rules{}, err
	}
	return server.ParseRules(path, data)
}

// installRules is "outpostd install-rules [--db DB] FILE": it installs a
// rules file as the record rules of the store, which every node serving
// it applies from its next record write, and exits. On SQLite it needs
// the file free: stop the server, or give it --rules at its next start.
func installRules(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("outpostd install-rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbPath := fs.String("db", envOr("OUTPOST_DB", "outpost-server.db"), "SQLite database file, or a postgres:// URL (env OUTPOST_DB)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: outpostd install-rules [--db DB] FILE\n\n"+
			"Installs the record rules in FILE (JSON) in the store; every node\n"+
			"serving it applies them from its next record write.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "outpostd install-rules: want one rules file")
		fs.Usage()
		return usageError{errors.New("want one rules file")}
	}
	r, err := readRules(fs.Arg(0))
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	store, dbName, err := openStore(ctx, *dbPath, log)
	if err != nil {
		return err
	}
	defer store.Close()
	version, hash, err := server.InstallRules(ctx, store, r)
	if err != nil {
		return err
	}
	log.Info("record rules in force", "db", dbName, "file", fs.Arg(0), "version", version, "hash", hash)
	return nil
}
