package pgstore_test

import (
	"strings"
	"testing"

	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
)

func TestOptions_NilLoggerWritesNothing(t *testing.T) {
	dsn := pgtest.DSN(t)
	logged := logtest.Capture(t)
	st := open(t, dsn)
	// An ephemeral event too large for a NOTIFY is dropped and logged,
	// but not with a nil Logger.
	st.Broadcast([]server.Delivery{{
		Event:      protocol.Event{Type: protocol.EventTypingStart, CID: "team:a", ConnectionID: strings.Repeat("x", 10000)},
		Recipients: []string{"alice"},
	}})
	if got := logged(); got != "" {
		t.Errorf("a nil Logger wrote to slog's default logger:\n%s", got)
	}
}
