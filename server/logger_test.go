package server_test

import (
	"net/http"
	"testing"

	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/server"
)

func TestConfig_NilLoggerWritesNothing(t *testing.T) {
	logged := logtest.Capture(t)
	ts := startServer(t, func(c *server.Config) { c.Logger = nil })
	// Every request is logged, but not with a nil Logger.
	ts.call(t, "alice", http.MethodGet, "/v1/no-such-route", nil, nil)
	ts.Server.Close() // waits for the request's log line
	if got := logged(); got != "" {
		t.Errorf("a nil Logger wrote to slog's default logger:\n%s", got)
	}
}
