// Command outpostd runs the Outpost reference sync server on an embedded
// SQLite database.
//
//	go run ./cmd/outpostd                       # dev: 127.0.0.1:8080, ./outpost-server.db, a fresh dev secret
//	outpostd --addr :8443 --db /var/lib/outpost/server.db --secret "$SECRET" --retention 720h \
//		--tls-cert cert.pem --tls-key key.pem --allowed-origins https://app.example.com
//
// Every flag has an environment variable: OUTPOST_ADDR, OUTPOST_DB,
// OUTPOST_SECRET, OUTPOST_RETENTION, OUTPOST_LOG_LEVEL, OUTPOST_TLS_CERT,
// OUTPOST_TLS_KEY, OUTPOST_ALLOWED_ORIGINS. It serves the API, the web page
// at /, GET /events, /metrics and /readyz, and logs one line per request.
// On SIGINT or SIGTERM it stops taking requests, lets the ones in flight
// finish, closes WebSockets and streams, and exits. --help exits 0; a
// usage error exits 2 with the usage.
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
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/outpostsync/outpost/server"
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

// run serves until ctx ends. ready, if not nil, gets the listening
// address once the server accepts connections.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("outpostd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("OUTPOST_ADDR", "127.0.0.1:8080"), "address to listen on (env OUTPOST_ADDR)")
	dbPath := fs.String("db", envOr("OUTPOST_DB", "outpost-server.db"), "SQLite database file (env OUTPOST_DB)")
	secret := fs.String("secret", envOr("OUTPOST_SECRET", ""), "HS256 token secret; empty makes a dev secret (env OUTPOST_SECRET)")
	retention := fs.String("retention", envOr("OUTPOST_RETENTION", "720h"), "how long events are kept, e.g. 720h (env OUTPOST_RETENTION)")
	logLevel := fs.String("log-level", envOr("OUTPOST_LOG_LEVEL", "info"), "debug, info, warn or error (env OUTPOST_LOG_LEVEL)")
	tlsCert := fs.String("tls-cert", envOr("OUTPOST_TLS_CERT", ""), "TLS certificate file (PEM); with --tls-key, serve HTTPS (env OUTPOST_TLS_CERT)")
	tlsKey := fs.String("tls-key", envOr("OUTPOST_TLS_KEY", ""), "TLS private key file (PEM) (env OUTPOST_TLS_KEY)")
	origins := fs.String("allowed-origins", envOr("OUTPOST_ALLOWED_ORIGINS", ""),
		"comma-separated browser origins besides the server's own that may call the API, e.g. https://app.example.com (env OUTPOST_ALLOWED_ORIGINS)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: outpostd [flags]\n\n"+
			"Runs the Outpost sync server on an embedded SQLite database: the API,\n"+
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
	store, err := sqlitestore.Open(ctx, *dbPath, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := server.New(server.Config{Store: store, Secret: []byte(*secret), Retention: keep, Logger: log,
		AllowedOrigins: allowed})
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
	log.Info("outpostd listening", "url", scheme+"://"+ln.Addr().String(), "db", *dbPath, "retention", keep)
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
