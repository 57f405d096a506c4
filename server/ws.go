package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/outpostsync/outpost/protocol"
)

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// maxClientFrame caps what a client may send on its WebSocket.
const maxClientFrame = 64 << 10

// handleConnect upgrades to a WebSocket (the token was checked before, so a
// bad one gets a plain 401), sends health.check with the connection id,
// then the user's live events, and health checks both ways.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request, user string) error {
	// Check the handshake here, so a request that is not a WebSocket gets
	// the JSON error body rather than the library's plain text.
	if !headerHasToken(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
		r.Header.Get("Sec-WebSocket-Version") != "13" || r.Header.Get("Sec-WebSocket-Key") == "" {
		return &protocol.APIError{Code: protocol.CodeInput, StatusCode: http.StatusUpgradeRequired,
			Message: "GET /connect is a WebSocket (version 13) handshake"}
	}
	hello, err := s.hello(r.Context())
	if err != nil {
		return err
	}
	if err := s.view(r.Context(), func(tx Tx) error { return s.helloRules(tx, hello) }); err != nil {
		return err
	}
	if err := s.limits.openConn(user); err != nil {
		return err
	}
	// ServeHTTP has checked the Origin against Config.AllowedOrigins.
	ws, err := websocket.Accept(upgradeWriter{w}, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.limits.closeConn(user)
		return nil // Accept has answered
	}
	ws.SetReadLimit(maxClientFrame)
	c := newWSConn(newEventID(), user, s.cfg.SendBuffer)
	if !s.hub.add(c) {
		s.limits.closeConn(user)
		ws.Close(websocket.StatusGoingAway, "server shutting down")
		return nil
	}
	// The connection runs on in goroutines of its own, and the handler
	// returns: net/http then lets go of the request, its buffers and the
	// deep stack of the goroutine that served it (see docs/BENCHMARKS.md,
	// BenchmarkFanoutScale).
	closed := detachRequest(r)
	go func() {
		defer s.hub.remove(c) // last: Server.Close waits for it
		defer s.limits.closeConn(user)
		defer closed()
		s.serveWS(ws, c, hello)
	}()
	return nil
}

// Buffer sizes of a WebSocket's connection. Clients send small frames
// (health checks) seldom, and most events fit in one write buffer; a
// larger frame is read or written past the buffer. net/http's buffers
// (4 KiB each) would stay with every idle connection.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 2 << 10
)

// upgradeWriter hands websocket.Accept the hijacked connection with
// buffers of wsReadBuffer and wsWriteBuffer bytes.
type upgradeWriter struct{ http.ResponseWriter }

func (w upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	br := brw.Reader
	if br.Buffered() == 0 {
		br = bufio.NewReaderSize(conn, wsReadBuffer)
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, wsWriteBuffer)), nil
}

func (w upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeTimeout bounds one frame's write to a WebSocket.
const writeTimeout = 10 * time.Second

// timedWriter writes frames with write and calls closeNow when one write
// takes longer than timeout (closeNow must make the write return). One
// timer, reset per write, stands in for a context with a deadline per
// frame: a timer, a context and a callback each, which were a tenth of
// the server's CPU in the fan-out profile.
type timedWriter struct {
	writeFn  func(data []byte) error
	watchdog *time.Timer
	timeout  time.Duration
}

func newTimedWriter(write func(data []byte) error, closeNow func(), timeout time.Duration) *timedWriter {
	w := &timedWriter{writeFn: write, watchdog: time.AfterFunc(time.Hour, closeNow), timeout: timeout}
	w.watchdog.Stop()
	return w
}

// write writes data and reports whether it was written in time.
func (w *timedWriter) write(data []byte) bool {
	w.watchdog.Reset(w.timeout)
	err := w.writeFn(data)
	return w.watchdog.Stop() && err == nil
}

func (w *timedWriter) stop() { w.watchdog.Stop() }

// serveWS runs one WebSocket: its first frame is a health.check with the
// connection id and the server's hello, then live events and health
// checks follow.
//
// The reader needs no context to end it: it ends when the socket closes,
// which serveWS sees to before it returns.
func (s *Server) serveWS(ws *websocket.Conn, c *wsConn, hello *protocol.Hello) {
	var lastSeen atomic.Int64
	lastSeen.Store(s.cfg.Now().UnixNano())

	var frames *rate.Limiter // per connection; nil for no limit
	if s.cfg.WSMessagesPerSecond > 0 {
		frames = rate.NewLimiter(rate.Limit(s.cfg.WSMessagesPerSecond), max(1, int(2*s.cfg.WSMessagesPerSecond)))
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			typ, data, err := ws.Read(context.Background())
			if err != nil {
				c.kill(websocket.StatusNormalClosure, "")
				return
			}
			if frames != nil && !frames.Allow() {
				c.kill(websocket.StatusPolicyViolation, "too many messages")
				return
			}
			lastSeen.Store(s.cfg.Now().UnixNano())
			var ev struct {
				Type protocol.EventType `json:"type"`
			}
			if typ != websocket.MessageText || json.Unmarshal(data, &ev) != nil || ev.Type != protocol.EventHealthCheck {
				// Clients send only health checks; anything else is
				// ignored rather than fatal, for newer clients.
				continue
			}
		}
	}()

	// The write gets a context that is never done, which the socket
	// library then does not watch; the watchdog bounds it instead.
	tw := newTimedWriter(func(data []byte) error {
		return ws.Write(context.Background(), websocket.MessageText, data)
	}, func() { ws.CloseNow() }, writeTimeout)
	defer tw.stop()
	write := tw.write
	health := func(hello *protocol.Hello) []byte {
		b, _ := json.Marshal(protocol.Event{Type: protocol.EventHealthCheck, ConnectionID: c.id, UserID: c.user,
			CreatedAt: s.cfg.Now().UTC(), Hello: hello})
		return b
	}
	ticker := time.NewTicker(s.cfg.HealthInterval)
	defer ticker.Stop()

	ok := write(health(hello))
	for ok {
		select {
		case <-c.ready:
			for data, more := c.next(); more && ok; data, more = c.next() {
				ok = write(data)
			}
		case <-ticker.C:
			if time.Duration(s.cfg.Now().UnixNano()-lastSeen.Load()) > s.cfg.HealthTimeout {
				c.kill(websocket.StatusPolicyViolation, "no health check from the client")
				ok = false
				break
			}
			ok = write(health(nil))
		case <-c.done:
			ok = false
		}
	}
	c.kill(websocket.StatusInternalError, "write failed")
	if c.reason == slowConsumer {
		s.metrics.cutoffs.WithLabelValues("websocket").Inc()
	}
	// The close handshake waits for the client at most a few seconds;
	// then the socket is cut.
	closed := make(chan struct{})
	go func() {
		ws.Close(c.status, c.reason)
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		ws.CloseNow()
		<-closed
	}
	<-readDone
}
