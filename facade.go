package outpost

import (
	"context"
	"encoding/json"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// The write methods below queue the write in the local outbox, with its
// optimistic row, and return once it is stored locally; online it leaves
// for the server at once, offline when the connection comes back. They
// work the same online and offline, and each returns the Write it queued.
// Their names are the names of the same operations in package client and
// in protocol's batch op types (protocol.OpSendMessage and the others).

// Write is a write queued in the outbox, as every write method returns it.
type Write struct {
	// TaskID is the outbox task that carries the write: the id
	// PendingTasks and FailedTasks list it under, and RetryFailed and
	// DismissFailed take. An update of a message still in the outbox
	// folds into its send and has the send's TaskID; a delete that
	// cancels a send still in the outbox has "": nothing will be sent.
	TaskID string
	// MessageID is the message the write is on: for SendMessage the new
	// message's id (its send task has the same id); "" for MarkRead and
	// record writes.
	MessageID string
	// Record is the record a Collection's write is on; zero for the
	// other writes.
	Record offlinedb.RecordKey
}

// NewMessage is a message for SendMessage. Text is required.
type NewMessage struct {
	// ID is the message's id; empty means a new random id. An app that
	// makes its own ids can queue the same message again (after a crash,
	// say) without making a second one.
	ID string
	// Text is the message's text, at most protocol.MaxTextBytes.
	Text string
	// ParentID is the message this one answers in a thread; empty for
	// none.
	ParentID string
	// Extra is the app's own JSON object kept with the message; nil for
	// none.
	Extra json.RawMessage
}

// SendMessage queues a message for the channel cid. The message is in the
// local store at once, with status "pending".
func (c *Client) SendMessage(ctx context.Context, cid string, msg NewMessage) (Write, error) {
	if err := c.check(); err != nil {
		return Write{}, err
	}
	id, err := c.mgr.SendMessage(ctx, cid, protocol.MessageInput{ID: msg.ID, Text: msg.Text, ParentID: msg.ParentID, Extra: msg.Extra})
	return Write{TaskID: id, MessageID: id}, err
}

// UpdateMessage queues an edit of a message's text. An edit of a message
// still in the outbox changes the pending send instead.
func (c *Client) UpdateMessage(ctx context.Context, cid, messageID, text string) (Write, error) {
	if err := c.check(); err != nil {
		return Write{}, err
	}
	id, err := c.mgr.UpdateMessage(ctx, cid, messageID, protocol.UpdateMessageRequest{Text: text})
	return Write{TaskID: id, MessageID: messageID}, err
}

// DeleteOptions are DeleteMessage's optional settings; the zero value is
// a soft delete.
type DeleteOptions struct {
	// Hard deletes the message for good instead of leaving a tombstone
	// that shows it was deleted.
	Hard bool
}

// DeleteMessage queues a delete. Deleting a message still in the outbox
// cancels its send.
func (c *Client) DeleteMessage(ctx context.Context, cid, messageID string, opts DeleteOptions) (Write, error) {
	if err := c.check(); err != nil {
		return Write{}, err
	}
	id, err := c.mgr.DeleteMessage(ctx, cid, messageID, opts.Hard)
	return Write{TaskID: id, MessageID: messageID}, err
}

// SendReaction queues the user's reaction of the given type to a message.
func (c *Client) SendReaction(ctx context.Context, cid, messageID, reactionType string) (Write, error) {
	if err := c.check(); err != nil {
		return Write{}, err
	}
	id, err := c.mgr.SendReaction(ctx, cid, messageID, protocol.SendReactionRequest{Type: reactionType})
	return Write{TaskID: id, MessageID: messageID}, err
}

// DeleteReaction queues the removal of the user's reaction of the given
// type.
func (c *Client) DeleteReaction(ctx context.Context, cid, messageID, reactionType string) (Write, error) {
	if err := c.check(); err != nil {
		return Write{}, err
	}
	id, err := c.mgr.DeleteReaction(ctx, cid, messageID, reactionType)
	return Write{TaskID: id, MessageID: messageID}, err
}

// MarkRead queues a read mark for the whole channel.
func (c *Client) MarkRead(ctx context.Context, cid string) (Write, error) {
	if err := c.check(); err != nil {
		return Write{}, err
	}
	id, err := c.mgr.MarkRead(ctx, cid, protocol.MarkReadRequest{})
	return Write{TaskID: id}, err
}

// SyncNow drains the outbox and syncs, and waits for both (or ctx). It
// returns syncmanager.ErrOffline when the connection is down.
func (c *Client) SyncNow(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.mgr.SyncNow(ctx)
}

// Status returns a snapshot of the sync status: online, syncing, the
// sync status Synced, last synced at, pending and failed counts, last
// error and progress.
func (c *Client) Status() syncmanager.Status { return c.mgr.Status() }

// OnStatus registers a listener for every change of the Status snapshot
// and returns its unsubscribe function. The sync status is its Synced
// field: true after a sync succeeds with the connection up, false when it
// goes down. Config.OnStatus registers one before Open starts anything.
func (c *Client) OnStatus(listener func(syncmanager.Status)) (unsubscribe func()) {
	return c.mgr.OnStatus(listener)
}

// OnChange registers a listener for changes of the local store (live
// events, sync pages, resets, the app's own writes, the server's answers)
// and returns its unsubscribe function. It runs after the change
// committed, so what it is told about is in the store; bursts coalesce
// into one call. See syncmanager.Change. Config.OnChange registers one
// before Open starts anything.
func (c *Client) OnChange(listener func(syncmanager.Change)) (unsubscribe func()) {
	return c.mgr.OnChange(listener)
}

// OnError registers a listener for every error the SDK handles by itself
// (logs, retries, or moves to the failed list: see syncmanager.ErrorKind)
// and returns its unsubscribe function. Config.OnError registers one
// before Open starts anything, to hear the errors of Open's own
// connecting.
func (c *Client) OnError(listener func(*syncmanager.Error)) (unsubscribe func()) {
	return c.mgr.OnError(listener)
}

// ScheduleSyncStatusChangeCallback runs cb once after the next successful
// sync that starts after the call; a later schedule with the same tag
// replaces an earlier one. An error cb returns is reported to the OnError
// listeners.
func (c *Client) ScheduleSyncStatusChangeCallback(tag string, cb syncmanager.Callback) {
	c.mgr.ScheduleSyncStatusChangeCallback(tag, cb)
}

// PendingTasks returns the user's writes still waiting in the outbox,
// in the order they will be sent.
func (c *Client) PendingTasks(ctx context.Context) ([]offlinedb.PendingTask, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.db.PendingTasks(ctx)
}

// RetryFailed puts a write the server refused back in the outbox, at its
// end, with its optimistic row; it is sent on the next drain. taskID is a
// FailedTask's ID.
func (c *Client) RetryFailed(ctx context.Context, taskID string) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.mgr.RetryFailed(ctx, taskID)
}

// DismissFailed forgets a write the server refused: it leaves the failed
// list, and its row shows the server's version (or disappears, if the
// server never had it).
func (c *Client) DismissFailed(ctx context.Context, taskID string) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.mgr.DismissFailed(ctx, taskID)
}

// FailedTasks returns the user's writes the server refused for good, with
// their errors. A refused write's row shows the server's version again.
func (c *Client) FailedTasks(ctx context.Context) ([]offlinedb.FailedTask, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.db.FailedTasks(ctx)
}
