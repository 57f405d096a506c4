package syncmanager

import (
	"context"
	"errors"

	"github.com/outpostsync/outpost/offlinedb"
)

// FailedStore is a Store that can retry and dismiss the writes the server
// refused. *offlinedb.DB is one.
type FailedStore interface {
	FailedTasks(ctx context.Context, userID string) ([]offlinedb.FailedTask, error)
	RetryFailedTask(ctx context.Context, taskID string) (offlinedb.PendingTask, error)
	DeleteFailedTask(ctx context.Context, taskID string) error
}

// errNoFailedStore says the Store cannot retry or dismiss failed writes.
var errNoFailedStore = errors.New("syncmanager: the store cannot retry or dismiss failed writes")

// RetryFailed puts a write the server refused (see the store's failed
// list) back in the outbox, at its end, with its optimistic row, and wakes
// the drain. It returns offlinedb.ErrTaskNotFound for an unknown id.
func (m *Manager) RetryFailed(ctx context.Context, taskID string) error {
	fs, ok := m.raw.(FailedStore)
	if !ok {
		return errNoFailedStore
	}
	m.beginCountChange()
	t, err := fs.RetryFailedTask(ctx, taskID)
	m.endCountChange(nil) // recounted below
	if err != nil {
		return err
	}
	m.noteTasks(ChangeWrite, t)
	m.refreshCounts()
	m.requestDrain()
	return nil
}

// DismissFailed forgets a write the server refused: it leaves the failed
// list, and its row is the server's version (or gone, if the server never
// had it). It returns offlinedb.ErrTaskNotFound for an unknown id.
func (m *Manager) DismissFailed(ctx context.Context, taskID string) error {
	fs, ok := m.raw.(FailedStore)
	if !ok {
		return errNoFailedStore
	}
	failed, err := fs.FailedTasks(ctx, "")
	if err != nil {
		return err
	}
	var t offlinedb.PendingTask
	for _, f := range failed {
		if f.ID == taskID {
			t = f.PendingTask
		}
	}
	m.beginCountChange()
	err = fs.DeleteFailedTask(ctx, taskID)
	m.endCountChange(nil) // recounted below
	if err != nil {
		return err
	}
	m.noteTasks(ChangeTask, t)
	m.refreshCounts()
	return nil
}
