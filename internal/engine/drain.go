package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// maxBatchBytes caps the payloads of one batch, well under the server's
// default body limit (1 MiB); a task larger than that goes alone.
const maxBatchBytes = 256 << 10

// taskPermanent reports whether the server refused a task for good. Auth
// and token errors are the connection's trouble, not the task's: they stop
// the drain like a temporary error instead of failing every task.
func taskPermanent(err error) bool {
	if errors.Is(err, store.ErrInvalidTask) {
		return true
	}
	var ve *protocol.ValidationError
	if errors.As(err, &ve) {
		return true
	}
	ae, ok := protocol.AsAPIError(err)
	if !ok {
		return false
	}
	switch ae.Code {
	case protocol.CodeInput, protocol.CodeNotFound, protocol.CodeNotAllowed,
		protocol.CodePayloadTooBig, protocol.CodeConflict, protocol.CodePreconditionFailed:
		return true
	}
	return false
}

// drain sends the outbox in order, in batches of up to DrainBatchSize
// tasks: one request, one server transaction and one local transaction
// each. A temporary failure stops it, so that no task overtakes an
// earlier one; a permanent one moves the task to the failed list and the
// drain goes on.
func (m *Manager) drain(ctx context.Context) error {
	tasks, err := m.store.PendingTasks(ctx)
	if err != nil {
		return err
	}
	for len(tasks) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := batchLen(tasks, m.opts.DrainBatchSize)
		if err := m.drainBatch(ctx, tasks[:n]); err != nil {
			return err
		}
		tasks = tasks[n:]
	}
	return nil
}

// batchLen returns how many of the first tasks fit in one batch. A
// record write ends the batch before it when the batch holds a write of
// the same record already: its preconditions are rebased on that write's
// answer (see store.DB.CompleteTasks), so it goes in the next batch.
func batchLen(tasks []store.PendingTask, most int) int {
	size := 0
	var records map[store.RecordKey]bool
	for i, t := range tasks {
		size += len(t.Payload) + 256
		if i == most || (i > 0 && size > maxBatchBytes) {
			return i
		}
		if t.RecordID != "" {
			k := store.RecordKey{CID: t.CID, Collection: t.Collection, ID: t.RecordID}
			if records[k] {
				return i
			}
			if records == nil {
				records = map[store.RecordKey]bool{}
			}
			records[k] = true
		}
	}
	return len(tasks)
}

// drainBatch sends tasks as one batch and records every outcome in one
// local transaction. The tasks are claimed first: an edit made from now
// on is queued after its send rather than folded into a send the server
// may already have.
func (m *Manager) drainBatch(ctx context.Context, listed []store.PendingTask) error {
	ids := make([]string, len(listed))
	for i, t := range listed {
		ids[i] = t.ID
	}
	claimed, err := m.store.ClaimPendingTasks(ctx, ids)
	if err != nil || len(claimed) == 0 {
		return err // none left: cancelled since they were listed
	}
	req := protocol.BatchRequest{Ops: make([]protocol.BatchOp, len(claimed))}
	for i, t := range claimed {
		req.Ops[i] = store.TaskOp(t)
	}
	var outcomes []store.TaskOutcome
	var stop error
	resp, err := m.conn.Batch(ctx, req)
	switch {
	case err == nil:
		for i, res := range resp.Results {
			t := claimed[i]
			switch {
			case res.Error == nil:
				outcomes = append(outcomes, store.TaskOutcome{TaskID: t.ID, Result: &res})
			case taskPermanent(res.Error):
				m.log.Warn("syncmanager: the server refused a task for good", "task", t.ID, "type", t.Type, "error", res.Error)
				outcomes = append(outcomes, store.TaskOutcome{TaskID: t.ID, Failed: res.Error})
			default:
				// Keep order: this task and the ones after it wait for the
				// next drain (repeats are idempotent).
				m.recordAttempt(ctx, t, res.Error)
				stop = fmt.Errorf("syncmanager: task %s (%s): %w", t.ID, t.Type, res.Error)
			}
			if stop != nil {
				break
			}
		}
	case isServerMismatch(err):
		// Another server refused the batch before doing anything: the
		// tasks stay as they are, for their own server.
		return err
	case taskPermanent(err) && len(claimed) > 1:
		// The batch as a whole was refused (too large, or an op the
		// server cannot parse): send its tasks in batches of one, so
		// that each error lands on its own task.
		m.log.Warn("syncmanager: batch refused; sending its tasks one by one", "error", err)
		for _, t := range claimed {
			if err := m.drainBatch(ctx, []store.PendingTask{t}); err != nil {
				return err
			}
		}
		return nil
	case taskPermanent(err):
		m.log.Warn("syncmanager: the server refused a task for good", "task", claimed[0].ID, "type", claimed[0].Type, "error", err)
		outcomes = append(outcomes, store.TaskOutcome{TaskID: claimed[0].ID, Failed: err})
	default:
		m.recordAttempt(ctx, claimed[0], err)
		return fmt.Errorf("syncmanager: batch of %d tasks: %w", len(req.Ops), err)
	}
	m.beginCountChange()
	if err := m.store.CompleteTasks(ctx, outcomes); err != nil {
		m.endCountChange(nil)
		return fmt.Errorf("syncmanager: complete %d tasks: %w", len(outcomes), err)
	}
	m.noteTasks(ChangeTask, claimed...)
	failed := 0
	for _, o := range outcomes {
		if o.Failed != nil {
			failed++
		}
	}
	m.endCountChange(func(s *Status) { s.Pending, s.Failed = max(s.Pending-len(outcomes), 0), s.Failed+failed })
	return stop
}

// recordAttempt notes a temporary failure on the task the drain stopped
// at. The tasks stay claimed (see store.UpdatePendingTask): one that
// failed for a temporary reason may have reached the server.
func (m *Manager) recordAttempt(ctx context.Context, t store.PendingTask, cause error) {
	t.Attempts++
	t.LastError = cause.Error()
	if err := m.store.UpdatePendingTask(ctx, t); err != nil && !errors.Is(err, store.ErrTaskNotFound) {
		m.log.Warn("syncmanager: could not record a task's failure", "task", t.ID, "error", err)
	}
}
