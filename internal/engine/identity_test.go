package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/engine"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// fatalRecorder keeps the ErrorFatal reports of a manager.
type fatalRecorder struct {
	mu   sync.Mutex
	errs []*syncmanager.Error
}

func (r *fatalRecorder) onError(e *syncmanager.Error) {
	if e.Kind == syncmanager.ErrorFatal {
		r.mu.Lock()
		r.errs = append(r.errs, e)
		r.mu.Unlock()
	}
}

func (r *fatalRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

// TestManager_ServerMismatchOnDrainIsFatal: a drain refused with the
// identity error stops the manager for good: the status and OnError say
// so once, the task stays in the outbox (not failed, not retried), SyncNow
// returns the error, and local writes still queue.
func TestManager_ServerMismatchOnDrainIsFatal(t *testing.T) {
	ctx := context.Background()
	var rec fatalRecorder
	m, conn, db := startManager(t, managerSetup{listeners: engine.Listeners{Error: rec.onError}})
	if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{Text: "for my own server"}); err != nil {
		t.Fatal(err)
	}
	mismatch := &client.ServerMismatchError{Bound: "fake-server", Err: protocol.NewAPIError(protocol.CodeServerMismatch, "not me")}
	conn.mu.Lock()
	conn.batchErrs = []error{mismatch}
	conn.mu.Unlock()
	conn.setOnline(true)
	waitFor(t, "the manager to stop", func() bool { return m.Status().Fatal != nil && rec.count() == 1 })

	var sm *client.ServerMismatchError
	if err := m.SyncNow(ctx); !errors.As(err, &sm) {
		t.Errorf("SyncNow = %v, want the *client.ServerMismatchError", err)
	}
	if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{Text: "written after"}); err != nil {
		t.Errorf("a local write after the mismatch: %v", err)
	}
	pending, err := db.PendingTasks(ctx)
	if err != nil || len(pending) != 2 {
		t.Errorf("pending = %d, %v; want both writes", len(pending), err)
	}
	failed, err := db.FailedTasks(ctx)
	if err != nil || len(failed) != 0 {
		t.Errorf("failed = %v, %v; want none", failed, err)
	}
	conn.mu.Lock()
	calls, syncs := conn.batchCalls, conn.syncCalls
	conn.mu.Unlock()
	if calls != 1 || syncs != 0 {
		t.Errorf("%d batch and %d sync calls, want 1 and 0", calls, syncs)
	}
	if st := m.Status(); !errors.As(st.Fatal, &sm) || st.Syncing {
		t.Errorf("status %+v", st)
	}
	if rec.count() != 1 {
		t.Errorf("%d ErrorFatal reports, want 1", rec.count())
	}
}

// TestManager_SyncPageOfAnotherServer: a store bound to its server meets
// another server's hello on a sync page: the page is not applied and the
// manager stops for good.
func TestManager_SyncPageOfAnotherServer(t *testing.T) {
	ctx := context.Background()
	var rec fatalRecorder
	m, conn, db := startManager(t, managerSetup{listeners: engine.Listeners{Error: rec.onError}, online: true})
	b, err := db.ServerBinding(ctx)
	if err != nil || b.ServerID != "fake-server" {
		t.Fatalf("binding after the first sync = %+v, %v", b, err)
	}
	conn.mu.Lock()
	if conn.serverID != "fake-server" {
		t.Errorf("the connection sends %q, want fake-server", conn.serverID)
	}
	conn.syncHello = &protocol.Hello{ServerID: "another", RetentionMS: 1}
	conn.mu.Unlock()
	conn.post("team:a", "m1", "from another server")

	err = m.SyncNow(ctx)
	var sm *client.ServerMismatchError
	if !errors.As(err, &sm) || sm.Bound != "fake-server" || sm.Got != "another" {
		t.Fatalf("SyncNow = %v, want a *client.ServerMismatchError (fake-server, another)", err)
	}
	if _, err := db.Message(ctx, "m1"); err == nil {
		t.Error("the other server's page was applied")
	}
	waitFor(t, "ErrorFatal", func() bool { return rec.count() == 1 })
	if b, _ := db.ServerBinding(ctx); b.ServerID != "fake-server" || b.Hello.ServerID != "fake-server" {
		t.Errorf("binding after = %+v", b)
	}
}
