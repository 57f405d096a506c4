package server_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
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

// TestAccessLog_WebSocketLoggedWhenItCloses: a WebSocket's access-log
// line comes when the connection closes, with status 101 and how long it
// was open, not when the upgrade is done.
func TestAccessLog_WebSocketLoggedWhenItCloses(t *testing.T) {
	var logs logtest.Buffer
	ts := startServer(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	ws := ts.dial(t, "alice")
	opened := time.Now()
	// A request after the upgrade: once its line is in, the connection's
	// would be too, had it been written at the upgrade.
	ts.call(t, "", http.MethodGet, protocol.PathHealthz, nil, nil)
	waitLogLine(t, &logs, protocol.PathHealthz)
	if line, ok := logLine(&logs, protocol.PathConnect); ok {
		t.Fatalf("the open WebSocket is logged already: %v", line)
	}
	held := time.Since(opened)
	ws.close()
	line := waitLogLine(t, &logs, protocol.PathConnect)
	if line["status"] != float64(http.StatusSwitchingProtocols) {
		t.Errorf("status %v, want 101", line["status"])
	}
	if d := time.Duration(line["duration"].(float64)); d < held {
		t.Errorf("duration %v, want at least the %v the connection was held open", d, held)
	}
}

// logLine returns the access-log line of path, decoded.
func logLine(logs *logtest.Buffer, path string) (map[string]any, bool) {
	for _, l := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" && m["path"] == path {
			return m, true
		}
	}
	return nil, false
}

func waitLogLine(tb testing.TB, logs *logtest.Buffer, path string) map[string]any {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m, ok := logLine(logs, path); ok {
			return m
		}
		time.Sleep(5 * time.Millisecond) // polling the log with a deadline
	}
	tb.Fatalf("no access-log line for %s in 5s:\n%s", path, logs.String())
	return nil
}
