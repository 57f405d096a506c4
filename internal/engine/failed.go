package engine

import (
	"context"

	"github.com/outpostsync/outpost/internal/store"
)

// RetryFailed puts a write the server refused (see the store's failed
// list) back in the outbox, at its end, with its optimistic row, and wakes
// the drain. It returns store.ErrTaskNotFound for an unknown id.
func (m *Manager) RetryFailed(ctx context.Context, taskID string) error {
	m.beginCountChange()
	t, err := m.raw.RetryFailed(ctx, taskID)
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
// had it). It returns store.ErrTaskNotFound for an unknown id.
func (m *Manager) DismissFailed(ctx context.Context, taskID string) error {
	failed, err := m.raw.FailedTasks(ctx)
	if err != nil {
		return err
	}
	var t store.PendingTask
	for _, f := range failed {
		if f.ID == taskID {
			t = f.PendingTask
		}
	}
	m.beginCountChange()
	err = m.raw.DismissFailed(ctx, taskID)
	m.endCountChange(nil) // recounted below
	if err != nil {
		return err
	}
	m.noteTasks(ChangeTask, t)
	m.refreshCounts()
	return nil
}
