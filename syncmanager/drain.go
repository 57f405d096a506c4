package syncmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// maxBatchBytes caps the payloads of one batch, well under the server's
// default body limit (1 MiB); a task larger than that goes alone.
const maxBatchBytes = 256 << 10

// errNoBatch says the server has no batch endpoint.
var errNoBatch = errors.New("syncmanager: the server has no batch endpoint")

// taskPermanent reports whether the server refused a task for good. Auth
// and token errors are the connection's trouble, not the task's: they stop
// the drain like a temporary error instead of failing every task.
func taskPermanent(err error) bool {
	if errors.Is(err, offlinedb.ErrInvalidTask) {
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
		protocol.CodePayloadTooBig, protocol.CodeConflict:
		return true
	}
	return false
}

// drain sends the outbox in order: in batches when the Conn can (one
// request, one server transaction and one local transaction for up to
// DrainBatchSize tasks), else task by task. A temporary failure stops it,
// so that no task overtakes an earlier one; a permanent one moves the task
// to the failed list and the drain goes on.
func (m *Manager) drain(ctx context.Context) error {
	tasks, err := m.store.GetPendingTasks(ctx, m.conn.UserID())
	if err != nil {
		return err
	}
	bc, canBatch := m.conn.(BatchConn)
	for len(tasks) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !canBatch || m.opts.DrainBatchSize == 1 || m.noBatch.Load() {
			if err := m.drainOne(ctx, tasks[0]); err != nil {
				return err
			}
			tasks = tasks[1:]
			continue
		}
		n := batchLen(tasks, m.opts.DrainBatchSize)
		err := m.drainBatch(ctx, bc, tasks[:n])
		if errors.Is(err, errNoBatch) {
			m.log.Info("syncmanager: the server cannot take batches; sending tasks one by one")
			m.noBatch.Store(true)
			continue
		}
		if err != nil {
			return err
		}
		tasks = tasks[n:]
	}
	return nil
}

// batchLen returns how many of the first tasks fit in one batch.
func batchLen(tasks []offlinedb.PendingTask, most int) int {
	size := 0
	for i, t := range tasks {
		size += len(t.Payload) + 256
		if i == most || (i > 0 && size > maxBatchBytes) {
			return i
		}
	}
	return len(tasks)
}

// drainOne sends one task in a request of its own.
func (m *Manager) drainOne(ctx context.Context, listed offlinedb.PendingTask) error {
	// Claim it first: an edit made from now on is queued after it rather
	// than folded into a send the server may already have.
	t, err := m.store.ClaimPendingTask(ctx, listed.ID)
	if errors.Is(err, offlinedb.ErrTaskNotFound) {
		return nil // cancelled since it was listed
	}
	if err != nil {
		return err
	}
	res, err := m.execTask(ctx, t)
	switch {
	case err == nil:
		if err := m.store.CompleteTasks(ctx, []offlinedb.TaskOutcome{{TaskID: t.ID, Result: &res}}); err != nil {
			return fmt.Errorf("syncmanager: complete task %s: %w", t.ID, err)
		}
		m.noteTasks(ChangeTask, t)
		m.updateStatus(func(s *Status) { s.Pending = max(s.Pending-1, 0) })
	case taskPermanent(err):
		m.log.Warn("syncmanager: the server refused a task for good", "task", t.ID, "type", t.Type, "error", err)
		if err := m.store.MoveToFailed(ctx, t.ID, err); err != nil {
			return err
		}
		m.noteTasks(ChangeTask, t)
		m.updateStatus(func(s *Status) { s.Pending, s.Failed = max(s.Pending-1, 0), s.Failed+1 })
	default:
		m.recordAttempt(ctx, t, err)
		return fmt.Errorf("syncmanager: task %s (%s): %w", t.ID, t.Type, err)
	}
	return nil
}

// drainBatch sends tasks in one batch and records every outcome in one
// local transaction.
func (m *Manager) drainBatch(ctx context.Context, bc BatchConn, listed []offlinedb.PendingTask) error {
	ids := make([]string, len(listed))
	for i, t := range listed {
		ids[i] = t.ID
	}
	claimed, err := m.store.ClaimPendingTasks(ctx, ids)
	if err != nil {
		return err
	}
	var outcomes []offlinedb.TaskOutcome
	var req protocol.BatchRequest
	var sent []offlinedb.PendingTask // the task of each op
	for _, t := range claimed {
		op, err := taskOp(t)
		if err != nil {
			outcomes = append(outcomes, offlinedb.TaskOutcome{TaskID: t.ID, Failed: err})
			continue
		}
		req.Ops = append(req.Ops, op)
		sent = append(sent, t)
	}
	var stop error
	if len(req.Ops) > 0 {
		resp, err := bc.Batch(ctx, req)
		switch {
		case err == nil:
		case isNoEndpoint(err):
			return errNoBatch
		case taskPermanent(err):
			// The batch as a whole was refused (too large, or a task the
			// server cannot parse): send these one by one, so that each
			// error lands on its own task.
			m.log.Warn("syncmanager: batch refused; sending its tasks one by one", "error", err)
			for _, t := range claimed {
				if err := m.drainOne(ctx, t); err != nil {
					return err
				}
			}
			return nil
		default:
			m.recordAttempt(ctx, sent[0], err)
			return fmt.Errorf("syncmanager: batch of %d tasks: %w", len(req.Ops), err)
		}
		for i, res := range resp.Results {
			t := sent[i]
			switch {
			case res.Error == nil:
				outcomes = append(outcomes, offlinedb.TaskOutcome{TaskID: t.ID, Result: &res})
			case taskPermanent(res.Error):
				m.log.Warn("syncmanager: the server refused a task for good", "task", t.ID, "type", t.Type, "error", res.Error)
				outcomes = append(outcomes, offlinedb.TaskOutcome{TaskID: t.ID, Failed: res.Error})
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
	}
	if err := m.store.CompleteTasks(ctx, outcomes); err != nil {
		return fmt.Errorf("syncmanager: complete %d tasks: %w", len(outcomes), err)
	}
	m.noteTasks(ChangeTask, claimed...)
	failed := 0
	for _, o := range outcomes {
		if o.Failed != nil {
			failed++
		}
	}
	m.updateStatus(func(s *Status) { s.Pending, s.Failed = max(s.Pending-len(outcomes), 0), s.Failed+failed })
	return stop
}

// recordAttempt notes a temporary failure on the task the drain stopped
// at. The tasks stay claimed (see offlinedb.UpdatePendingTask): one that
// failed for a temporary reason may have reached the server.
func (m *Manager) recordAttempt(ctx context.Context, t offlinedb.PendingTask, cause error) {
	t.Attempts++
	t.LastError = cause.Error()
	if err := m.store.UpdatePendingTask(ctx, t); err != nil && !errors.Is(err, offlinedb.ErrTaskNotFound) {
		m.log.Warn("syncmanager: could not record a task's failure", "task", t.ID, "error", err)
	}
}

// isNoEndpoint reports whether err says the server has no batch endpoint
// (an older server): 404 or 405 for the whole request.
func isNoEndpoint(err error) bool {
	ae, ok := protocol.AsAPIError(err)
	return ok && (ae.StatusCode == 404 || ae.StatusCode == 405)
}

// taskOp turns a task into a batch op. The payload is decoded and encoded
// again, so that a task stored by an older version still makes a body the
// server's strict decoding takes.
func taskOp(t offlinedb.PendingTask) (protocol.BatchOp, error) {
	op := protocol.BatchOp{Type: protocol.BatchOpType(t.Type), Key: t.ID, MessageID: t.MessageID}
	var body any
	switch t.Type {
	case offlinedb.TaskSendMessage:
		body, op.Key, op.CID, op.MessageID = &protocol.SendMessageRequest{}, "", t.CID, ""
	case offlinedb.TaskUpdateMessage:
		body = &protocol.UpdateMessageRequest{}
	case offlinedb.TaskDeleteMessage:
		body = &protocol.DeleteMessageBody{}
	case offlinedb.TaskSendReaction:
		body = &protocol.SendReactionRequest{}
	case offlinedb.TaskDeleteReaction:
		body = &protocol.DeleteReactionBody{}
	case offlinedb.TaskMarkRead:
		body, op.CID, op.MessageID = &protocol.MarkReadRequest{}, t.CID, ""
	default:
		return op, fmt.Errorf("%w: unknown type %q", offlinedb.ErrInvalidTask, t.Type)
	}
	if err := decodeTask(t, body); err != nil {
		return op, err
	}
	data, err := json.Marshal(body)
	if err != nil {
		return op, fmt.Errorf("%w: %v", offlinedb.ErrInvalidTask, err)
	}
	op.Body = data
	return op, nil
}

// execTask sends one task in a request of its own and returns the
// server's answer in the shape of a batch result.
func (m *Manager) execTask(ctx context.Context, t offlinedb.PendingTask) (protocol.BatchResult, error) {
	switch t.Type {
	case offlinedb.TaskSendMessage:
		var req protocol.SendMessageRequest
		if err := decodeTask(t, &req); err != nil {
			return protocol.BatchResult{}, err
		}
		resp, err := m.conn.SendMessage(ctx, t.CID, req)
		return messageResult(resp, err)
	case offlinedb.TaskUpdateMessage:
		var req protocol.UpdateMessageRequest
		if err := decodeTask(t, &req); err != nil {
			return protocol.BatchResult{}, err
		}
		resp, err := m.conn.UpdateMessage(ctx, t.MessageID, req, t.ID)
		return messageResult(resp, err)
	case offlinedb.TaskDeleteMessage:
		var req offlinedb.DeleteMessagePayload
		if err := decodeTask(t, &req); err != nil {
			return protocol.BatchResult{}, err
		}
		resp, err := m.conn.DeleteMessage(ctx, t.MessageID, req.Hard, t.ID)
		return messageResult(resp, err)
	case offlinedb.TaskSendReaction:
		var req protocol.SendReactionRequest
		if err := decodeTask(t, &req); err != nil {
			return protocol.BatchResult{}, err
		}
		resp, err := m.conn.SendReaction(ctx, t.MessageID, req, t.ID)
		return reactionResult(resp, err)
	case offlinedb.TaskDeleteReaction:
		var req offlinedb.DeleteReactionPayload
		if err := decodeTask(t, &req); err != nil {
			return protocol.BatchResult{}, err
		}
		resp, err := m.conn.DeleteReaction(ctx, t.MessageID, req.Type, t.ID)
		return reactionResult(resp, err)
	case offlinedb.TaskMarkRead:
		var req protocol.MarkReadRequest
		if err := decodeTask(t, &req); err != nil {
			return protocol.BatchResult{}, err
		}
		resp, err := m.conn.MarkRead(ctx, t.CID, req, t.ID)
		if err != nil {
			return protocol.BatchResult{}, err
		}
		return protocol.BatchResult{Read: &resp.Read}, nil
	}
	return protocol.BatchResult{}, fmt.Errorf("%w: unknown type %q", offlinedb.ErrInvalidTask, t.Type)
}

func messageResult(resp *protocol.MessageResponse, err error) (protocol.BatchResult, error) {
	if err != nil {
		return protocol.BatchResult{}, err
	}
	return protocol.BatchResult{Message: &resp.Message}, nil
}

func reactionResult(resp *protocol.ReactionResponse, err error) (protocol.BatchResult, error) {
	if err != nil {
		return protocol.BatchResult{}, err
	}
	return protocol.BatchResult{Message: &resp.Message, Reaction: &resp.Reaction}, nil
}

func decodeTask(t offlinedb.PendingTask, v any) error {
	if err := protocol.DecodeLenient(t.Payload, v, string(t.Type)+" payload"); err != nil {
		return fmt.Errorf("%w: %v", offlinedb.ErrInvalidTask, err)
	}
	return nil
}
