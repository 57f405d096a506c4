// Package client is the Outpost SDK's connection to the sync server: a
// WebSocket that delivers the server's events live, kept up with health
// checks and reconnects, and the REST calls for every read and write the
// SDK makes.
//
// # Lifecycle
//
// New checks a Config and returns a disconnected Client; it does no I/O and
// starts no goroutine. Connect starts a background loop that dials
// GET /connect, waits for the server's first health.check (only then is the
// client online), delivers events, and reconnects after every failure with
// jittered exponential backoff (Config.MinReconnectDelay to
// Config.MaxReconnectDelay, reset after a connection that came up).
// Disconnect stops the loop and can be followed by another Connect. Close is
// final: it stops everything, runs the handlers of events already queued,
// and waits for every goroutine the client started, within its ctx; it
// may be called from a handler, and again (returning the first result).
// After Close every call returns ErrClosed, the SDK's one closed error
// (outpost.ErrClosed is the same value).
//
//	c, err := client.New(client.Config{ServerURL: url, UserID: "alice", Token: tok})
//	...
//	defer c.Close(ctx)
//	c.On(protocol.EventMessageNew, func(ev client.Event) { ... })
//	err = c.Connect(ctx)
//
// State reports where the client is: StateDisconnected, StateConnecting,
// StateConnected or StateClosed.
//
// # Events
//
// On registers a handler for one event type, OnAll for every event, and
// OnError for connection errors; each returns its own unsubscribe func.
// Handlers run one at a time, in arrival order, on a dispatcher goroutine
// of the client: never on the WebSocket read loop and never under a lock of
// the client. A handler that panics is recovered and logged and the next
// one still runs. The dispatcher's queue is unbounded, so a slow handler
// delays later handlers but never the read loop or its health checks; it
// costs memory instead, and the client logs a warning as the backlog grows.
//
// Handlers receive an Event: the wire's protocol.Event and the client's
// own Online flag, which never crosses the wire. Besides the server's
// events the client makes two of its own: connection.changed, with Online
// telling which way, exactly once per real change (never two with the same
// value in a row), and connection.recovered, right after the
// connection.changed with Online set of every connection that follows an
// earlier one: the cue to sync what was missed.
//
// # Failures
//
// A connection that fails (read error, server close, a bad frame, no frame
// for Config.HealthTimeout) makes the client go offline and reconnect. A
// server that rejects the client for good (a token the TokenProvider cannot
// fix, 403, a wrong URL) stops the reconnecting: Connect returns the error,
// Err keeps it, and OnError handlers get it with Permanent set.
//
// REST calls return *protocol.APIError for errors the server answered,
// *TransportError when the network failed, *DecodeError for a response that
// is not what was expected, and *protocol.ValidationError for bad input,
// caught before anything is sent. IsTemporary, IsPermanent, NeedsReset and
// RetryAfter classify them; no call sleeps on a rate limit by itself.
//
// # Concurrency
//
// All methods of Client are safe for concurrent use, from handlers too,
// except Close, which waits for the handlers and so must not be called from
// one.
package client
