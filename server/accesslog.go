package server

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// requestInfo is what the access log learns while a request is served.
type requestInfo struct {
	user string
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

// logRequest writes the one access-log line of a finished request. The
// URL is logged by path only: a query may hold a token.
func (s *Server) logRequest(r *http.Request, route string, status int, d time.Duration, info *requestInfo) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("remote", r.RemoteAddr),
	}
	if info.user != "" {
		attrs = append(attrs, slog.String("user", info.user))
	}
	s.log.LogAttrs(context.WithoutCancel(r.Context()), level, "request", attrs...)
}
