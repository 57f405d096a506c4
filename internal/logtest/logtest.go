// Package logtest lets tests read what is logged: a Buffer safe for
// concurrent writers, and Capture, which sees what reaches slog's default
// logger (to check that a nil Logger in a Config or Options writes
// nothing).
package logtest

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// Capture sends slog's default logger, at every level, to a buffer for
// the rest of the test, and returns a function that reads the buffer.
// The default logger is restored at cleanup. Tests that call it must not
// run in parallel with others that log.
func Capture(tb testing.TB) func() string {
	tb.Helper()
	w := &Buffer{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	tb.Cleanup(func() { slog.SetDefault(old) })
	return w.String
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers, to
// hand a server or a command as its log or output. The zero value is
// ready to use.
type Buffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (w *Buffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// String returns what was written so far.
func (w *Buffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
