package client

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/protocol"
)

// healthCheckFrame is what the client sends every HealthCheckInterval.
var healthCheckFrame = []byte(`{"type":"health.check"}`)

// closeWait bounds the close handshake on Disconnect and Close; a peer that
// does not answer in time has its socket closed under it.
const closeWait = time.Second

// loop keeps a connection up until ctx is cancelled (Disconnect, Close) or a
// permanent error, reconnecting with backoff after every failure.
func (c *Client) loop(ctx context.Context, h *runHandle) {
	defer c.wg.Done()
	defer close(h.done)
	b := newReconnectBackoff(c.cfg)
	for attempt := 1; ; attempt++ {
		wasOnline, err := c.connectAndServe(ctx)
		if ctx.Err() != nil {
			return // Disconnect or Close finishes the state
		}
		if wasOnline {
			b.reset()
			attempt = 1
		}
		permanent := isPermanentConnErr(err)

		c.mu.Lock()
		if c.run != h {
			c.mu.Unlock()
			return
		}
		c.goOfflineLocked()
		c.emitError(ErrorEvent{Err: err, Permanent: permanent})
		if permanent {
			c.err = err
			c.run = nil
			c.setStateLocked(StateDisconnected)
			c.mu.Unlock()
			c.log.Error("outpost client: giving up reconnecting", "err", err)
			return
		}
		c.setStateLocked(StateConnecting)
		c.mu.Unlock()

		if len(c.bases) > 1 && isNodeFailure(err) {
			next := c.nextBase()
			c.log.Info("outpost client: moving to the next server URL", "url", next.Redacted())
		}
		delay := b.next()
		if ra, ok := RetryAfter(err); ok && ra > delay {
			delay = ra
		}
		c.log.Warn("outpost client: connection failed, retrying", "err", err, "attempt", attempt, "delay", delay)
		t := c.clk.NewTimer(delay)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// isPermanentConnErr reports whether err means reconnecting cannot help: the
// server rejected the client for good (a token a refresh could not fix, a
// 403, a wrong URL), or the token provider failed in a way that is not
// temporary.
func isPermanentConnErr(err error) bool {
	var te *TokenError
	if errors.As(err, &te) {
		return !IsTemporary(te.Err)
	}
	return IsPermanent(err)
}

// isNodeFailure reports whether err says that the node the client used is
// down or failing (it could not be reached, the connection was lost or
// garbled, or it answered the dial with a 5xx), so that another node of
// the cluster may do better. A token provider's error, a 429 and the like
// are the same on every node.
func isNodeFailure(err error) bool {
	var te *TokenError
	if errors.As(err, &te) {
		return false
	}
	var tre *TransportError
	var fe *FrameError
	if errors.As(err, &tre) || errors.As(err, &fe) {
		return true
	}
	if e, ok := protocol.AsAPIError(err); ok {
		return e.StatusCode >= 500
	}
	var de *DecodeError
	return errors.As(err, &de) && de.StatusCode >= 500
}

// connectAndServe dials, refreshing the token once if the server rejects
// it, and serves the connection until it fails. wasOnline reports whether
// the connection came up.
func (c *Client) connectAndServe(ctx context.Context) (wasOnline bool, err error) {
	tok, err := c.currentToken(ctx)
	if err != nil {
		return false, err
	}
	conn, err := c.dial(ctx, tok)
	if isAuthRejection(err, true) && c.cfg.TokenProvider != nil {
		c.log.Debug("outpost client: token rejected on connect, refreshing", "err", err)
		if tok, err = c.refreshToken(ctx, tok); err != nil {
			return false, err
		}
		conn, err = c.dial(ctx, tok)
	}
	if err != nil {
		return false, err
	}
	return c.serve(ctx, conn)
}

// dial opens the WebSocket. A handshake the server refuses with an HTTP
// error becomes the *protocol.APIError of its body (or a *DecodeError).
func (c *Client) dial(ctx context.Context, tok string) (*wsConn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HealthTimeout)
	defer cancel()
	rec := &connRecorder{}
	ctx = context.WithValue(ctx, connRecorderKey{}, rec)
	header := http.Header{protocol.HeaderAuthorization: {"Bearer " + tok}}
	if id := c.ServerID(); id != "" {
		header.Set(protocol.HeaderServerID, id)
	}
	conn, resp, err := websocket.Dial(ctx, c.baseURL().String()+protocol.PathConnect, &websocket.DialOptions{
		HTTPClient: c.wsHTTP,
		HTTPHeader: header,
	})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			return nil, c.errorFromResponse("connect", resp)
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &DecodeError{Op: "connect", StatusCode: resp.StatusCode, Err: err}
		}
		return nil, &TransportError{Op: "connect", Err: err}
	}
	conn.SetReadLimit(c.cfg.MaxFrameBytes)
	return &wsConn{Conn: conn, sock: rec}, nil
}

// wsConn is an open WebSocket and, when known, its socket.
type wsConn struct {
	*websocket.Conn
	sock *connRecorder
}

// frame is one message read from the WebSocket, or the error that ended the
// reading.
type frame struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

// serve runs one open connection: it reads frames (on a goroutine of its
// own, which only reads), turns them into events for the dispatcher, sends
// health checks, and watches for silence. It returns when the connection
// fails or ctx is cancelled, after the reading goroutine has ended.
func (c *Client) serve(ctx context.Context, conn *wsConn) (online bool, err error) {
	connCtx, cancelConn := context.WithCancel(ctx)
	frames := make(chan frame)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			typ, data, err := conn.Read(connCtx)
			select {
			case frames <- frame{typ, data, err}:
			case <-connCtx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancelConn()
		<-readerDone
	}()

	silence := c.clk.NewTimer(c.cfg.HealthTimeout)
	defer silence.Stop()
	var pingC <-chan time.Time // nil until online
	var connID string

	for {
		select {
		case <-ctx.Done():
			c.closeGracefully(conn, cancelConn)
			return online, ctx.Err()

		case <-silence.C():
			conn.CloseNow()
			c.log.Warn("outpost client: connection silent, closing", "timeout", c.cfg.HealthTimeout, "connection_id", connID)
			return online, &TransportError{Op: "health check", Err: ErrHealthTimeout}

		case <-pingC:
			wctx, cancel := context.WithTimeout(ctx, c.cfg.HealthTimeout)
			err := conn.Write(wctx, websocket.MessageText, healthCheckFrame)
			cancel()
			if err != nil {
				conn.CloseNow()
				return online, &TransportError{Op: "health check", Err: err}
			}

		case fr := <-frames:
			if fr.err != nil {
				conn.CloseNow()
				return online, c.readError(fr.err, connID)
			}
			silence.Reset(c.cfg.HealthTimeout)
			ev, ferr := decodeFrame(fr, connID)
			if ferr == nil && !online {
				ferr = checkFirstFrame(ev)
				if ferr == nil && ev.UserID != "" && ev.UserID != c.cfg.UserID {
					// The token names someone else: stop before
					// anything is read or written as them.
					err := &UserMismatchError{Want: c.cfg.UserID, Got: ev.UserID}
					c.log.Error("outpost client: the token is another user's", "err", err)
					c.closeWithStatus(conn, cancelConn, websocket.StatusPolicyViolation, "token names another user")
					return false, err
				}
				if ferr == nil {
					ferr = checkHello(ev.Hello)
				}
				if ferr == nil {
					if err := c.serverMismatch(ev.Hello); err != nil {
						// Another server: stop before anything is
						// read from or sent to it.
						c.log.Error("outpost client: the server is not the store's", "err", err)
						c.closeWithStatus(conn, cancelConn, websocket.StatusPolicyViolation, "another server")
						return false, err
					}
					if ev.Hello != nil {
						c.hello.Store(ev.Hello)
					}
				}
			}
			if ferr != nil {
				c.log.Error("outpost client: bad frame from server, reconnecting", "err", ferr, "connection_id", connID)
				c.closeWithStatus(conn, cancelConn, websocket.StatusUnsupportedData, ferr.Reason)
				return online, ferr
			}
			c.mu.Lock()
			if !online {
				online, connID = true, ev.ConnectionID
				c.goOnlineLocked(connID)
				c.log.Info("outpost client: connected", "connection_id", connID)
			}
			c.lastFrame = c.clk.Now()
			c.emit(Event{Event: *ev})
			c.mu.Unlock()
			if pingC == nil {
				t := c.clk.NewTicker(c.cfg.HealthCheckInterval)
				defer t.Stop()
				pingC = t.C()
			}
			if !ev.Type.Known() {
				c.log.Debug("outpost client: event of unknown type passed on", "type", ev.Type)
			}
		}
	}
}

// decodeFrame turns a frame into an event, or a *FrameError.
func decodeFrame(fr frame, connID string) (*protocol.Event, *FrameError) {
	if fr.typ != websocket.MessageText {
		return nil, &FrameError{ConnectionID: connID, Reason: "binary message"}
	}
	ev, err := protocol.DecodeEvent(fr.data)
	if err != nil {
		return nil, &FrameError{ConnectionID: connID, Reason: "malformed event", Err: err}
	}
	return ev, nil
}

// checkFirstFrame checks that a connection's first event is the server's
// health.check with the connection id: only that makes the client online.
func checkFirstFrame(ev *protocol.Event) *FrameError {
	if ev.Type != protocol.EventHealthCheck {
		return &FrameError{Reason: "first event is " + string(ev.Type) + ", want health.check"}
	}
	if ev.ConnectionID == "" {
		return &FrameError{Reason: "first health.check has no connection_id"}
	}
	return nil
}

// readError classifies the error that ended the reading.
func (c *Client) readError(err error, connID string) error {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return &FrameError{ConnectionID: connID, Reason: "message over MaxFrameBytes", Err: err}
	}
	if s := websocket.CloseStatus(err); s != -1 {
		c.log.Info("outpost client: server closed the connection", "status", s, "connection_id", connID)
	}
	return &TransportError{Op: "read", Err: err}
}

// closeGracefully closes conn with a normal close handshake.
func (c *Client) closeGracefully(conn *wsConn, cancelConn context.CancelFunc) {
	c.closeWithStatus(conn, cancelConn, websocket.StatusNormalClosure, "client disconnect")
}

// closeWithStatus closes conn with a close handshake bounded by closeWait:
// past it, the socket is closed under the handshake.
func (c *Client) closeWithStatus(conn *wsConn, cancelConn context.CancelFunc, code websocket.StatusCode, reason string) {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn.Close(code, reason)
	}()
	t := time.NewTimer(closeWait) // an I/O bound, on real time
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.log.Debug("outpost client: close handshake unanswered, closing the socket")
		cancelConn()
		conn.sock.close()
		conn.CloseNow()
		<-done
	}
}
