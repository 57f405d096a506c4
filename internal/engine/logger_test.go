package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/engine"
	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/syncmanager"
)

func TestOptions_NilLoggerWritesNothing(t *testing.T) {
	logged := logtest.Capture(t)
	conn := newFakeConn("bob")
	reported := make(chan struct{}, 1)
	// A failed callback is logged, then reported to OnError, but not
	// logged with a nil Logger.
	m := newManagerWith(t, conn, openStore(t), syncmanager.Options{}, engine.Listeners{Error: func(*syncmanager.Error) {
		select {
		case reported <- struct{}{}:
		default:
		}
	}})
	m.ScheduleSyncStatusChangeCallback("fails", func(context.Context) error { return errors.New("fails") })
	conn.setOnline(true)
	select {
	case <-reported:
	case <-time.After(10 * time.Second):
		t.Fatal("the failed callback was not reported")
	}
	if got := logged(); got != "" {
		t.Errorf("a nil Logger wrote to slog's default logger:\n%s", got)
	}
}
