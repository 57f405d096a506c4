package server

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// requestInfo is what the access log learns while a request is served.
type requestInfo struct {
	user string

	// A WebSocket's handler returns once the connection is upgraded
	// (so net/http lets go of the request, its buffers and its
	// goroutine) and the connection runs on; its log line and request
	// metric wait for it to close, so they keep saying how long it was
	// open.
	mu       sync.Mutex // guards the fields below
	detached bool       // the handler returned before the connection closed
	closed   bool       // the detached connection has closed
	record   func()     // set by ServeHTTP when it finds the request detached and open
}

// detachRequest marks r's connection as running on after its handler
// returns, and returns the func to call once it has closed.
func detachRequest(r *http.Request) (closed func()) {
	info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo)
	if !ok {
		return func() {}
	}
	info.mu.Lock()
	info.detached = true
	info.mu.Unlock()
	return func() {
		info.mu.Lock()
		info.closed = true
		record := info.record
		info.mu.Unlock()
		if record != nil {
			record()
		}
	}
}

// finished calls record now, or, for a detached connection still open,
// once it closes.
func (info *requestInfo) finished(record func()) {
	info.mu.Lock()
	if info.detached && !info.closed {
		info.record = record
		info.mu.Unlock()
		return
	}
	info.mu.Unlock()
	record()
}

type requestInfoKey struct{}

// setRequestUser records the authenticated user for the access log.
func setRequestUser(r *http.Request, user string) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.user = user
	}
}

// statusWriter records the status a handler answered with. It passes
// Flush and Hijack through (streams and WebSockets need them) and
// unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush and Hijack go through http.ResponseController, so they reach a
// writer that a middleware in front of the server wrapped with an Unwrap
// method only.
func (w *statusWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("server: connection cannot be hijacked: %w", err)
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, nil
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessEntry is what the access log keeps of a request: not the request
// itself, which a detached WebSocket would otherwise hold on to.
type accessEntry struct {
	ctx                  context.Context // without the request's cancel
	method, path, remote string
	route                string
	info                 *requestInfo
}

func newAccessEntry(r *http.Request, route string, info *requestInfo) accessEntry {
	// Copies: the method and the path may share the memory of the request
	// line, which holds the query, and with it a token.
	return accessEntry{ctx: context.WithoutCancel(r.Context()), method: strings.Clone(r.Method),
		path: strings.Clone(r.URL.Path), remote: r.RemoteAddr, route: route, info: info}
}

// logRequest writes the one access-log line of a finished request. The
// URL is logged by path only: a query may hold a token.
func (s *Server) logRequest(e accessEntry, status int, d time.Duration) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	if !s.log.Enabled(e.ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", e.method),
		slog.String("route", e.route),
		slog.String("path", e.path),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("remote", e.remote),
	}
	if e.info.user != "" {
		attrs = append(attrs, slog.String("user", e.info.user))
	}
	s.log.LogAttrs(e.ctx, level, "request", attrs...)
}
