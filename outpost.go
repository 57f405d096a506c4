package outpost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/access"
	"github.com/outpostsync/outpost/internal/engine"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/syncmanager"
)

// Config configures Open. ServerURL, UserID and DBPath are required, and
// Token or TokenProvider. Sync.SyncPolicy says when the client syncs by
// itself (on every connect by default). OnStatus, OnChange and OnError
// are listeners that hear from the first event on (see the package doc's
// Listening).
type Config struct {
	// ServerURL is the sync server's base URL.
	ServerURL string
	// ServerURLs are more base URLs of the same cluster; the client moves
	// to the next one when a node cannot be reached (see
	// client.Config.ServerURLs). The store is bound to the cluster's
	// server id, whichever node is in use. Nil means ServerURL alone.
	ServerURLs []string
	// UserID is the user the token names.
	UserID string
	// Token authenticates the user; TokenProvider, if set, is asked for a
	// new one when the server says it expired.
	Token         string
	TokenProvider client.TokenProvider
	// DBPath is the local store's file; it is created (mode 0600) if
	// missing. DefaultDBPath gives the place the system's conventions
	// name for it. Several processes may open one store (see
	// SyncLockPath): one of them syncs, all write and hear every change.
	DBPath string

	// ConnectTimeout, if positive, makes Open wait up to it for the first
	// connection (and, under syncmanager.SyncOnConnect, the first sync)
	// before it returns, online or not; a token the server refuses is then
	// Open's error. Zero (or negative) means Open does not wait for the
	// network: connecting is background work, reported through Status and
	// OnStatus (a refused token as Status().LastError and a permanent
	// syncmanager.ErrorConnection to OnError).
	ConnectTimeout time.Duration

	// HTTPClient, if set, is used for REST calls and the WebSocket.
	HTTPClient *http.Client
	// Logger gets the logs of all parts. Nil means no logs (as in every
	// package of Outpost: a nil Logger discards).
	Logger *slog.Logger

	// WipeOnIdentityChange lets Open take a store bound to another user:
	// it is wiped first, its outbox with it (never sent under the new
	// identity). False means Open refuses such a store with an
	// *offlinedb.IdentityError. A store bound to another server is never
	// wiped (see Open).
	WipeOnIdentityChange bool

	// OnStatus, OnChange and OnError, if set, are registered as by
	// Client.OnStatus, Client.OnChange and Client.OnError before Open
	// starts anything, so that they hear the first status, the first
	// change and the first error too (those of Open itself included).
	// They stay registered until Close.
	OnStatus func(syncmanager.Status)
	OnChange func(syncmanager.Change)
	OnError  func(*syncmanager.Error)

	// Client, Store and Sync tune the parts; their zero values are the
	// defaults. Client's ServerURL, ServerURLs, UserID, Token,
	// TokenProvider and HTTPClient come from the fields above: leave them
	// zero there (Open refuses a different value with a
	// *client.ConfigError naming the field; Client.HTTPClient is used
	// when HTTPClient is nil). A part's own Logger, when set, is used
	// instead of Logger.
	Client client.Config
	Store  offlinedb.Options
	Sync   syncmanager.Options
}

// Client is an open Outpost: the local store, the connection and the sync
// manager of one user. It is safe for concurrent use.
type Client struct {
	db   *store.DB
	conn *client.Client
	mgr  *engine.Manager

	userID    string
	log       *slog.Logger
	closed    atomic.Bool // set when Close begins
	closeOnce sync.Once
	closeErr  error
}

// Open opens the local store at cfg.DBPath, binds it to cfg.UserID (the
// first open records it; a store of another user is refused with an
// *offlinedb.IdentityError unless cfg.WipeOnIdentityChange), starts the
// sync manager and starts connecting in the background: by default it
// does not wait for the network, and returns a working Client, offline
// until the connection comes up. With a positive cfg.ConnectTimeout it
// waits up to that for the connection and, under
// syncmanager.SyncOnConnect, the first sync.
//
// The store is bound to its server by the id the server says in its
// hello, not by cfg.ServerURL: it binds to the first server it meets
// while it holds nothing of any server, and any URL of that server will
// do. Meeting another server is a permanent *client.ServerMismatchError:
// Open fails with it when it finds out while it waits; later the sync
// manager stops for good and says so in Status().Fatal and
// cfg.OnError, with the store and its outbox untouched and local
// reads and writes still working.
//
// Open fails for a bad config (a *ConfigError naming the field), a store
// it cannot open or of another user, or, while it waits, a permanent
// connection error (a token the server refuses, or one that names
// another user than cfg.UserID: *client.UserMismatchError; another server
// than the store's: *client.ServerMismatchError; both found before
// anything is synced or sent).
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := cfg.checkClient(); err != nil {
		return nil, err
	}
	storeOpts := cfg.Store
	if storeOpts.Logger == nil {
		storeOpts.Logger = cfg.Logger
	}
	db, err := store.Open(ctx, cfg.DBPath, storeOpts)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Client, error) {
		db.Close()
		return nil, err
	}
	if err := db.Bind(ctx, cfg.UserID, cfg.WipeOnIdentityChange); err != nil {
		return fail(fmt.Errorf("outpost: %w", err))
	}
	ccfg := cfg.Client
	ccfg.ServerURL, ccfg.UserID, ccfg.Token, ccfg.TokenProvider = cfg.ServerURL, cfg.UserID, cfg.Token, cfg.TokenProvider
	ccfg.ServerURLs = cfg.ServerURLs
	if cfg.HTTPClient != nil {
		ccfg.HTTPClient = cfg.HTTPClient
	}
	if ccfg.Logger == nil {
		ccfg.Logger = cfg.Logger
	}
	conn, err := client.New(ccfg)
	if err != nil {
		return fail(err)
	}
	sopts := cfg.Sync
	if sopts.Logger == nil {
		sopts.Logger = cfg.Logger
	}
	if sopts.SyncLock == "" {
		sopts.SyncLock = SyncLockPath(cfg.DBPath)
	}
	// The manager subscribes before the connection starts, so the first
	// connection.changed is never missed.
	mgr, err := engine.New(ctx, conn, db, sopts, engine.Listeners{Status: cfg.OnStatus, Change: cfg.OnChange, Error: cfg.OnError})
	if err != nil {
		conn.Close(ctx)
		return fail(err)
	}
	c := &Client{db: db, conn: conn, mgr: mgr, userID: cfg.UserID, log: cfg.logger()}
	cctx, cancel := context.WithTimeout(ctx, max(cfg.ConnectTimeout, 0))
	defer cancel()
	err = conn.Connect(cctx)
	switch {
	case err == nil && cfg.Sync.SyncPolicy == syncmanager.SyncOnConnect:
		// Online: wait for the first sync within the same bound.
		if serr := mgr.SyncNow(cctx); serr != nil && cctx.Err() == nil && !errors.Is(serr, syncmanager.ErrOffline) && !errors.Is(serr, syncmanager.ErrNotSyncer) {
			cfg.logger().Warn("outpost: first sync failed; retrying in the background", "error", serr)
		}
	case err == nil:
		// The policy skips the first sync.
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		// Offline is fine: the client keeps trying.
	case cfg.ConnectTimeout <= 0 && ctx.Err() == nil:
		// Open did not wait: what the first attempt met (another server, a
		// refused token) is the background's to report, through Status
		// and OnError; the store stays usable for local writes.
	default:
		c.closeNow()
		return nil, fmt.Errorf("outpost: connect: %w", err)
	}
	return c, nil
}

// check returns a *ConfigError for the first required field cfg lacks.
func (cfg Config) check() error {
	switch {
	case cfg.ServerURL == "":
		return &ConfigError{Field: "ServerURL"}
	case cfg.UserID == "":
		return &ConfigError{Field: "UserID"}
	case cfg.Token == "" && cfg.TokenProvider == nil:
		return &ConfigError{Field: "Token", Reason: "required, or TokenProvider"}
	case cfg.DBPath == "":
		return &ConfigError{Field: "DBPath", Reason: "required (DefaultDBPath gives the system's place for it)"}
	}
	return nil
}

// checkClient refuses a Config.Client whose fields that Open fills from
// Config hold something else, so that no setting is dropped silently.
func (cfg Config) checkClient() error {
	cc := cfg.Client
	conflict := func(field string) error {
		return &ConfigError{Field: "Client." + field,
			Reason: "differs from Config." + field + "; set it there only"}
	}
	switch {
	case cc.ServerURL != "" && cc.ServerURL != cfg.ServerURL:
		return conflict("ServerURL")
	case cc.ServerURLs != nil && !slices.Equal(cc.ServerURLs, cfg.ServerURLs):
		return conflict("ServerURLs")
	case cc.UserID != "" && cc.UserID != cfg.UserID:
		return conflict("UserID")
	case cc.Token != "" && cc.Token != cfg.Token:
		return conflict("Token")
	case cc.TokenProvider != nil:
		return conflict("TokenProvider")
	case cc.HTTPClient != nil && cfg.HTTPClient != nil && cc.HTTPClient != cfg.HTTPClient:
		return conflict("HTTPClient")
	}
	return nil
}

func (cfg Config) logger() *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// UserID returns the user this Client is for.
func (c *Client) UserID() string { return c.userID }

// Connect connects to the server (again, after Disconnect) and waits until
// the connection is up, a permanent error stops it, or ctx ends; when ctx
// ends first the client keeps trying in the background (see
// client.Client.Connect). The sync manager drains the outbox and, as
// Config.Sync.SyncPolicy says, syncs when the connection comes up.
func (c *Client) Connect(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.conn.Connect(ctx)
}

// Disconnect closes the connection and stops reconnecting, until Connect,
// and waits within ctx until the connection is down: after it returns nil,
// nothing more leaves for the server. The Client works offline meanwhile:
// reads come from the store, writes wait in the outbox. When ctx ends
// first, the connection still goes down, in the background, and
// Disconnect returns ctx's error.
func (c *Client) Disconnect(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { c.conn.Disconnect(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitForFirstSync waits until this Client has completed a sync (at once
// if one has), or ctx ends. It starts no sync of its own: the manager
// syncs when the connection comes up, as Config.Sync.SyncPolicy says.
func (c *Client) WaitForFirstSync(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.mgr.WaitForFirstSync(ctx)
}

// WaitSynced waits until the outbox is empty and a sync that started after
// the call has completed, or ctx ends: every write made before the call
// has reached the server (or the failed list) and the store holds what the
// server had then. Offline, it waits for the connection; in a process
// that does not hold the store's sync lock (see Status.Syncer), it waits
// until this process takes the lock over.
func (c *Client) WaitSynced(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.mgr.WaitSynced(ctx)
}

// Close makes a best-effort final drain of the outbox when the connection
// is up, bounded by ctx (by FinalDrainTimeout when ctx has no deadline; a
// ctx already done skips it), then stops the sync manager, closes the
// connection and the store, and returns the first error of the closing.
// Stopping takes at most StopTimeout more, whatever ctx: Close returns
// within ctx's deadline plus StopTimeout. Listener calls still queued run
// while that allows; a listener running when Close is called (one that
// calls Close, say) is not waited for. Writes the drain could not send
// stay in the store's outbox and leave on the next Open. Close is
// idempotent: later calls return the first one's result.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, FinalDrainTimeout)
			defer cancel()
		}
		if ctx.Err() == nil && c.conn.IsHealthy() {
			if err := c.mgr.Flush(ctx); err != nil {
				c.log.Info("outpost: final drain incomplete; the outbox keeps the rest", "error", err)
			}
		}
		// The parts stop within a bound of their own: a ctx that ended
		// during the drain must not leave them running.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), StopTimeout)
		defer cancel()
		c.closeErr = errors.Join(c.mgr.Close(sctx), c.conn.Close(sctx), c.db.Close())
	})
	return c.closeErr
}

// FinalDrainTimeout bounds Close's final drain when its ctx has no
// deadline.
const FinalDrainTimeout = 5 * time.Second

// StopTimeout bounds how long Close waits, after the final drain, for the
// sync manager and the connection to stop.
const StopTimeout = 2 * time.Second

// closeNow closes without a final drain.
func (c *Client) closeNow() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return c.Close(ctx)
}

func init() {
	access.Parts = func(x any) (*store.DB, *client.Client, *engine.Manager) {
		c := x.(*Client)
		return c.db, c.conn, c.mgr
	}
}

// SyncLockPath returns the lock file beside the store at dbPath that
// Open uses as syncmanager.Options.SyncLock (unless Config.Sync sets one):
// of the processes that open one store, the one holding it drains the
// outbox and syncs, and another takes over within a second of it closing
// or dying.
func SyncLockPath(dbPath string) string { return dbPath + ".sync-lock" }
