package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// The write calls put a write in the outbox, with its optimistic local row,
// and wake the worker to send it. Every write goes through the outbox, even
// online, so that a write never overtakes an earlier one that is still
// waiting; online, it leaves at once. They return when the write is stored
// locally, not when the server has it: watch the row's status.
//
// Each returns the id of the outbox task that carries the write, the id
// PendingTasks, FailedTasks, RetryFailed and DismissFailed know it by. A
// message's send task has the message's id; an edit of a message still in
// the outbox folds into its send and returns the send's id; a delete that
// cancels a send still in the outbox returns "" (nothing is sent).

// SendMessage queues a message for the channel cid and returns its id
// (in.ID, or a new one when empty).
func (m *Manager) SendMessage(ctx context.Context, cid string, in protocol.MessageInput) (string, error) {
	var idErr error
	if in.ID == "" {
		in.ID = store.NewTaskID()
	} else {
		idErr = protocol.ValidateID("message id", in.ID)
	}
	if err := checkWrite(cid, idErr, protocol.ValidateText("text", in.Text)); err != nil {
		return "", err
	}
	t, err := store.NewSendMessageTask(m.conn.UserID(), cid, in)
	if err != nil {
		return "", err
	}
	if _, err := m.queue(ctx, t); err != nil {
		return "", err
	}
	return in.ID, nil
}

// UpdateMessage queues an edit. An edit of a message still in the outbox
// changes the pending send instead.
func (m *Manager) UpdateMessage(ctx context.Context, cid, messageID string, req protocol.UpdateMessageRequest) (string, error) {
	if err := checkWrite(cid, protocol.ValidateID("message id", messageID), protocol.ValidateText("text", req.Text)); err != nil {
		return "", err
	}
	t, err := store.NewUpdateMessageTask(m.conn.UserID(), cid, messageID, req)
	if err != nil {
		return "", err
	}
	return m.queue(ctx, t)
}

// DeleteMessage queues a delete. Deleting a message still in the outbox
// cancels its send: the server never hears of it.
func (m *Manager) DeleteMessage(ctx context.Context, cid, messageID string, hard bool) (string, error) {
	if err := checkWrite(cid, protocol.ValidateID("message id", messageID)); err != nil {
		return "", err
	}
	t, err := store.NewDeleteMessageTask(m.conn.UserID(), cid, messageID, hard)
	if err != nil {
		return "", err
	}
	return m.queue(ctx, t)
}

// SendReaction queues a reaction.
func (m *Manager) SendReaction(ctx context.Context, cid, messageID string, req protocol.SendReactionRequest) (string, error) {
	if err := checkWrite(cid, protocol.ValidateID("message id", messageID), protocol.ValidateID("reaction type", req.Type)); err != nil {
		return "", err
	}
	t, err := store.NewSendReactionTask(m.conn.UserID(), cid, messageID, req)
	if err != nil {
		return "", err
	}
	return m.queue(ctx, t)
}

// DeleteReaction queues the removal of the user's reaction.
func (m *Manager) DeleteReaction(ctx context.Context, cid, messageID, reactionType string) (string, error) {
	if err := checkWrite(cid, protocol.ValidateID("message id", messageID), protocol.ValidateID("reaction type", reactionType)); err != nil {
		return "", err
	}
	t, err := store.NewDeleteReactionTask(m.conn.UserID(), cid, messageID, reactionType)
	if err != nil {
		return "", err
	}
	return m.queue(ctx, t)
}

// MarkRead queues a read mark for the channel cid.
func (m *Manager) MarkRead(ctx context.Context, cid string, req protocol.MarkReadRequest) (string, error) {
	if err := checkWrite(cid); err != nil {
		return "", err
	}
	t, err := store.NewMarkReadTask(m.conn.UserID(), cid, req)
	if err != nil {
		return "", err
	}
	return m.queue(ctx, t)
}

// checkWrite checks what a write names before it is queued: its channel
// cid, then the results of the field checks given. A write the server
// would refuse for its shape (a bad cid or id, a blank text or one over
// protocol.MaxTextBytes, a reaction type that is not an id) is refused
// now, as an error wrapping store.ErrInvalidTask and a
// *protocol.ValidationError, instead of failing later in the outbox.
func checkWrite(cid string, checks ...error) error {
	err := protocol.ValidateCID(cid)
	for _, e := range checks {
		if err == nil {
			err = e
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", store.ErrInvalidTask, err)
	}
	return nil
}

func (m *Manager) queue(ctx context.Context, t store.PendingTask) (string, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	// Counting the outbox scans it; keep the count in step instead, and
	// let the end of each cycle recount it exactly.
	m.beginCountChange()
	res, err := m.store.AddPendingTask(ctx, t)
	if err != nil {
		m.endCountChange(nil)
		return "", err
	}
	m.noteTasks(ChangeWrite, t)
	id := t.ID
	switch res {
	case store.Queued:
		m.endCountChange(func(s *Status) { s.Pending++ })
	case store.Folded:
		m.endCountChange(nil)
		id = t.MessageID // the send's task has the message's id
	case store.Cancelled:
		m.endCountChange(nil)
		id = ""
		m.refreshCounts()
	}
	m.requestDrain()
	return id, nil
}

// WriteRecord queues a record write: typ is one of the record ops
// (protocol.OpCreateRecord and the others) and body its request. What
// the server would refuse for its shape (a bad cid, collection or id, a
// field name that is empty or too long, fields over
// protocol.MaxRecordBytes) is refused now, as an error wrapping
// store.ErrInvalidTask and a *protocol.ValidationError.
func (m *Manager) WriteRecord(ctx context.Context, typ protocol.BatchOpType, cid, collection, id string, body any) (string, error) {
	if err := checkWrite(cid, protocol.ValidateRecordKey(collection, id), checkRecordBody(body)); err != nil {
		return "", err
	}
	t, err := store.NewRecordTask(typ, m.conn.UserID(), cid, collection, id, body)
	if err != nil {
		return "", err
	}
	return m.queue(ctx, t)
}

// checkRecordBody checks the fields a record write sets.
func checkRecordBody(body any) error {
	var fields map[string]json.RawMessage
	var unset []string
	switch b := body.(type) {
	case protocol.CreateRecordRequest:
		fields = b.Fields
	case protocol.ReplaceRecordRequest:
		fields = b.Fields
	case protocol.PatchRecordRequest:
		fields, unset = b.Set, b.Unset
	}
	size := 2
	for name, v := range fields {
		if err := protocol.ValidateFieldName(name); err != nil {
			return err
		}
		size += len(name) + len(v) + 4
	}
	for _, name := range unset {
		if err := protocol.ValidateFieldName(name); err != nil {
			return err
		}
	}
	if size > protocol.MaxRecordBytes {
		return &protocol.ValidationError{Field: "fields", Reason: fmt.Sprintf("are %d bytes, over %d", size, protocol.MaxRecordBytes)}
	}
	return nil
}
