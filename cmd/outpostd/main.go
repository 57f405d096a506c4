// Command outpostd runs the Outpost reference sync server on an embedded
// SQLite database.
//
//	go run ./cmd/outpostd                       # dev: 127.0.0.1:8080, ./outpost-server.db, a fresh dev secret
//	outpostd --addr :8080 --db /var/lib/outpost.db --secret "$SECRET" --retention 720h
//
// Every flag has an environment variable: OUTPOST_ADDR, OUTPOST_DB,
// OUTPOST_SECRET, OUTPOST_RETENTION, OUTPOST_TOKEN_LEEWAY,
// OUTPOST_WRITE_RATE, OUTPOST_WRITE_BURST, OUTPOST_SYNC_RATE,
// OUTPOST_MAX_CONNS. One outpostd serves a database file: a second one on
// the same file is refused at start. On SIGINT or SIGTERM it stops taking
// requests, lets the ones in flight finish, closes WebSockets, and exits.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "outpostd:", err)
		os.Exit(1)
	}
}

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
	fs := flag.NewFlagSet("outpostd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("OUTPOST_ADDR", "127.0.0.1:8080"), "address to listen on (env OUTPOST_ADDR)")
	dbPath := fs.String("db", envOr("OUTPOST_DB", "outpost-server.db"), "SQLite database file (env OUTPOST_DB)")
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *leeway < 0 {
		return fmt.Errorf("--token-leeway %v: want zero or more", *leeway)
	}
	if *leeway == 0 {
		*leeway = -1 // server.Config: negative means none
	}
	if *writeRate < 0 || *writeBurst < 1 || *syncRate < 0 || *maxConns < 0 {
		return errors.New("--write-rate, --sync-rate and --max-conns want zero (no limit) or more, --write-burst one or more")
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
		return fmt.Errorf("--retention %q: want a positive duration such as 720h", *retention)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *secret == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		*secret = hex.EncodeToString(b[:])
		log.Warn("no --secret given: using a fresh dev secret; tokens die with this process",
			"secret", *secret, "mint_a_token", "token.Issue([]byte(secret), userID, ttl) from github.com/outpostsync/outpost/token")
	}

	store, err := sqlitestore.Open(ctx, *dbPath, nil)
	if err != nil {
		return fmt.Errorf("open %s: %w", *dbPath, err)
	}
	defer store.Close()
	cfg.Store, cfg.Secret, cfg.Retention, cfg.Logger, cfg.TokenLeeway = store, []byte(*secret), keep, log, *leeway
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
	log.Info("outpostd listening", "addr", ln.Addr().String(), "db", *dbPath, "retention", keep,
		"write_rate", *writeRate, "write_burst", *writeBurst, "sync_rate", *syncRate, "max_conns", *maxConns)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
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
