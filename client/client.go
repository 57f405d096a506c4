package client

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpostsync/outpost/internal/clock"
	"github.com/outpostsync/outpost/internal/dispatch"
	"github.com/outpostsync/outpost/protocol"
)

// State is where a Client is in its life.
type State int

// The states of a Client. New returns a client in StateDisconnected.
const (
	// StateDisconnected: not connected and not trying to be, either before
	// the first Connect, after Disconnect, or after a permanent error
	// (see Client.Err).
	StateDisconnected State = iota
	// StateConnecting: dialing, waiting for the server's first
	// health.check, or waiting to retry after a failure.
	StateConnecting
	// StateConnected: the connection is up and the server's first
	// health.check has arrived; events flow.
	StateConnected
	// StateClosed: Close was called. The state is final.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateClosed:
		return "closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Client is a connection to an Outpost sync server: a WebSocket that
// delivers events, kept up with health checks and reconnects, and the REST
// calls. Make one with New; all its methods are safe for concurrent use.
type Client struct {
	cfg      Config
	bases    []*url.URL                     // ServerURL's, then ServerURLs'; never changed
	cur      atomic.Uint32                  // index in bases of the current base URL
	serverID atomic.Pointer[string]         // see SetServerID; nil for none
	hello    atomic.Pointer[protocol.Hello] // the last connection's, nil before
	log      *slog.Logger
	clk      clock.Clock
	wsHTTP   *http.Client // for WebSocket dials; see wsdial.go
	disp     *dispatch.Queue
	handlers registry
	wg       sync.WaitGroup // the connection loops

	// stopMu is held by Disconnect while it stops a loop, so that a second
	// Disconnect returns only once the loop is gone too.
	stopMu sync.Mutex

	closeOnce sync.Once
	closeErr  error // Close's result; set within closeOnce

	// refreshing is a lock, one slot wide, taken to call the token
	// provider, so that calls that all see an expired token refresh it
	// once. It is a channel so that waiting for it honours ctx.
	refreshing chan struct{}

	tokenMu sync.Mutex // guards the field below
	token   string

	mu         sync.Mutex // guards the fields below
	state      State
	changed    chan struct{} // closed, then replaced, on each state change
	online     bool          // what the last connection.changed said
	beenOnline bool          // online at least once since New
	connID     string
	lastFrame  time.Time
	err        error // the permanent error that stopped the loop
	run        *runHandle
	closed     bool
}

// runHandle is one connection loop, from Connect to Disconnect, Close or a
// permanent error.
type runHandle struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop returns
	up     chan struct{} // closed when a connection first comes up
	wasUp  bool          // guarded by Client.mu
}

// New returns a Client for cfg, disconnected. It does no I/O and starts no
// goroutine; Connect does. It returns a *ConfigError for a missing or
// invalid field.
func New(cfg Config) (*Client, error) {
	cfg, bases, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:        cfg,
		bases:      bases,
		log:        cfg.Logger,
		clk:        cfg.clock,
		wsHTTP:     newWSHTTPClient(cfg.HTTPClient),
		disp:       dispatch.New(cfg.Logger, "outpost client: event handler"),
		refreshing: make(chan struct{}, 1),
		token:      cfg.Token,
		changed:    make(chan struct{}),
	}
	return c, nil
}

// baseURL returns the current base URL, which the WebSocket dial and the
// REST calls use.
func (c *Client) baseURL() *url.URL {
	return c.bases[int(c.cur.Load())%len(c.bases)]
}

// nextBase moves to the next base URL, in turn, and returns it. The loop
// is its only caller.
func (c *Client) nextBase() *url.URL {
	return c.bases[int(c.cur.Add(1))%len(c.bases)]
}

// UserID returns the configured user id.
func (c *Client) UserID() string { return c.cfg.UserID }

// State returns the client's state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// IsHealthy reports whether the client is connected and has heard from the
// server within the health timeout.
func (c *Client) IsHealthy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == StateConnected && c.clk.Since(c.lastFrame) <= c.cfg.HealthTimeout
}

// ConnectionID returns the id the server gave the current connection in its
// first health.check, or "" when not connected.
func (c *Client) ConnectionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connID
}

// Err returns the permanent error that stopped the client from
// reconnecting (a rejected token that a refresh could not fix, a 403, a
// wrong URL), or nil. Connect clears it.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Connect starts connecting in the background, and keeps the client
// connected, reconnecting with backoff after every failure, until
// Disconnect, Close, or a permanent error. It then waits until the
// connection is up (the server's first health.check has arrived), a
// permanent error stops the client, or ctx is done, and returns nil, that
// error, or ctx's error. It returns nil once the connection has come up,
// even if it went down again before Connect returned.
//
// When ctx ends first the client keeps trying in the background: an
// offline-first app can call Connect with a short timeout, ignore
// context.DeadlineExceeded, and learn that it is online from a
// connection.changed event. Connect on a client that is already connecting
// or connected just waits. It returns ErrClosed after Close and
// ErrDisconnected if Disconnect is called while it waits.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	h := c.run
	if h == nil {
		runCtx, cancel := context.WithCancel(context.Background())
		h = &runHandle{cancel: cancel, done: make(chan struct{}), up: make(chan struct{})}
		c.run = h
		c.err = nil
		c.setStateLocked(StateConnecting)
		c.disp.Start()
		c.wg.Add(1)
		go c.loop(runCtx, h)
	}
	c.mu.Unlock()

	for {
		c.mu.Lock()
		state, err, changed, run := c.state, c.err, c.changed, c.run
		c.mu.Unlock()
		select {
		case <-h.up:
			return nil // it came up, even if it has gone down since
		default:
		}
		switch {
		case state == StateClosed:
			return ErrClosed
		case run != h && err != nil:
			return err
		case run != h:
			return ErrDisconnected
		}
		select {
		case <-h.up:
			return nil
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Disconnect closes the connection and stops reconnecting, waits for the
// connection's goroutines to end, and leaves the client in
// StateDisconnected; Connect may be called again. If the client was online
// it emits connection.changed{online: false}. Disconnect on a client that is
// not connected does nothing.
func (c *Client) Disconnect() {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	c.mu.Lock()
	h := c.run
	c.run = nil
	c.mu.Unlock()
	if h == nil {
		return
	}
	h.cancel()
	<-h.done
	c.mu.Lock()
	defer c.mu.Unlock()
	c.goOfflineLocked()
	if !c.closed && c.run == nil {
		c.setStateLocked(StateDisconnected)
	}
}

// Close disconnects for good: it closes the connection, emits
// connection.changed{online: false} if the client was online, runs the
// handlers for every event already queued, and waits for the client's
// goroutines to end, all within ctx. When ctx ends first, the handlers
// still queued are dropped, the goroutines end in the background (the
// connection is cancelled), and Close returns an error wrapping ctx's. A
// handler running when Close is called (one that calls Close, say) is not
// waited for: the queued ones are dropped, and the handlers' goroutine
// ends when it returns. Every other method returns ErrClosed afterwards (the
// SDK's one closed error: errors.Is(err, outpost.ErrClosed) holds). Close
// is idempotent: later calls return the first one's result.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()

		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			c.Disconnect()
			c.wg.Wait()
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			c.closeErr = fmt.Errorf("client: close: the connection did not stop: %w", ctx.Err())
		}
		c.mu.Lock()
		c.goOfflineLocked()
		c.setStateLocked(StateClosed)
		c.mu.Unlock()
		switch {
		case c.disp.InCallback() || ctx.Err() != nil:
			c.disp.Abandon()
		default:
			if err := c.disp.StopWithin(ctx); err != nil {
				c.closeErr = fmt.Errorf("client: close: a handler did not return: %w", err)
			}
		}
		c.cfg.HTTPClient.CloseIdleConnections()
		c.wsHTTP.CloseIdleConnections()
	})
	return c.closeErr
}

func (c *Client) setStateLocked(s State) {
	if c.state == s || c.state == StateClosed {
		return
	}
	c.state = s
	close(c.changed)
	c.changed = make(chan struct{})
}

// goOnlineLocked records a connection that came up and emits
// connection.changed{online: true}, then connection.recovered if the client
// had been online before.
func (c *Client) goOnlineLocked(connID string) {
	c.connID = connID
	c.lastFrame = c.clk.Now()
	c.setStateLocked(StateConnected)
	if h := c.run; h != nil && !h.wasUp {
		h.wasUp = true
		close(h.up)
	}
	if c.online {
		return
	}
	c.online = true
	c.emit(Event{Event: protocol.Event{Type: EventConnectionChanged, CreatedAt: c.clk.Now()}, Online: true})
	if c.beenOnline {
		c.emit(Event{Event: protocol.Event{Type: EventConnectionRecovered, ConnectionID: connID, CreatedAt: c.clk.Now()}, Online: true})
	}
	c.beenOnline = true
}

// goOfflineLocked emits connection.changed{online: false} if the last one
// said online, so that there is exactly one per real transition.
func (c *Client) goOfflineLocked() {
	c.connID = ""
	if !c.online {
		return
	}
	c.online = false
	c.emit(Event{Event: protocol.Event{Type: EventConnectionChanged, CreatedAt: c.clk.Now()}})
}
