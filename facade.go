package outpost

import (
	"context"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// The write methods below queue the write in the local outbox, with its
// optimistic row, and return once it is stored locally; online it leaves
// for the server at once, offline when the connection comes back. They
// work the same online and offline.
//
// Each returns the id of the outbox task that carries the write: the id
// PendingTasks and FailedTasks list it under, and RetryFailed and
// DismissFailed take. An edit of a message still in the outbox folds into
// its send and returns the send's id (the message's); a delete that
// cancels a send still in the outbox returns "": nothing will be sent.

// EditMessage queues an edit of a message's text. An edit of a message
// still in the outbox changes the pending send instead.
func (c *Client) EditMessage(ctx context.Context, cid, messageID, text string) (taskID string, err error) {
	return c.Sync.UpdateMessage(ctx, cid, messageID, protocol.UpdateMessageRequest{Text: text})
}

// DeleteMessage queues a delete (a hard delete when hard is set). Deleting
// a message still in the outbox cancels its send.
func (c *Client) DeleteMessage(ctx context.Context, cid, messageID string, hard bool) (taskID string, err error) {
	return c.Sync.DeleteMessage(ctx, cid, messageID, hard)
}

// React queues a reaction of the given type to a message.
func (c *Client) React(ctx context.Context, cid, messageID, reactionType string) (taskID string, err error) {
	return c.Sync.SendReaction(ctx, cid, messageID, protocol.SendReactionRequest{Type: reactionType})
}

// Unreact queues the removal of the user's reaction of the given type.
func (c *Client) Unreact(ctx context.Context, cid, messageID, reactionType string) (taskID string, err error) {
	return c.Sync.DeleteReaction(ctx, cid, messageID, reactionType)
}

// MarkRead queues a read mark for the whole channel.
func (c *Client) MarkRead(ctx context.Context, cid string) (taskID string, err error) {
	return c.Sync.MarkRead(ctx, cid, protocol.MarkReadRequest{})
}

// SyncNow drains the outbox and syncs, and waits for both (or ctx). It
// returns syncmanager.ErrOffline when the connection is down.
func (c *Client) SyncNow(ctx context.Context) error { return c.Sync.SyncNow(ctx) }

// Status returns a snapshot of the sync status: online, syncing, last
// synced at, pending and failed counts, last error and progress.
func (c *Client) Status() syncmanager.Status { return c.Sync.Status() }

// OnSyncStatusChange registers a listener for the sync status (the
// Status().Synced flag): true after a sync succeeds with the connection
// up, false when it goes down. It returns its unsubscribe function.
func (c *Client) OnSyncStatusChange(listener func(synced bool)) (unsubscribe func()) {
	return c.Sync.OnSyncStatusChange(listener)
}

// OnChange registers a listener for changes of the local store (live
// events, sync pages, resets, the app's own writes, the server's answers)
// and returns its unsubscribe function. It runs after the change
// committed, so what it is told about is in the store; bursts coalesce
// into one call. Prefer it to c.Conn.OnAll for redrawing: a connection
// handler may run before the store has the event. See syncmanager.Change.
func (c *Client) OnChange(listener func(syncmanager.Change)) (unsubscribe func()) {
	return c.Sync.OnChange(listener)
}

// OnStatus registers a listener for every change of the Status snapshot
// (counts, progress, errors, the Synced flag among them) and returns its
// unsubscribe function. For the Synced flag alone, OnSyncStatusChange.
func (c *Client) OnStatus(listener func(syncmanager.Status)) (unsubscribe func()) {
	return c.Sync.OnStatus(listener)
}

// ScheduleSyncStatusChangeCallback runs cb once after the next successful
// sync that starts after the call; a later schedule with the same tag
// replaces an earlier one. An error cb returns is reported to
// Config.Sync.OnError.
func (c *Client) ScheduleSyncStatusChangeCallback(tag string, cb syncmanager.Callback) {
	c.Sync.ScheduleSyncStatusChangeCallback(tag, cb)
}

// PendingTasks returns the user's writes still waiting in the outbox,
// in the order they will be sent.
func (c *Client) PendingTasks(ctx context.Context) ([]offlinedb.PendingTask, error) {
	return c.DB.PendingTasks(ctx, c.userID)
}

// RetryFailed puts a write the server refused back in the outbox, at its
// end, with its optimistic row; it is sent on the next drain. taskID is a
// FailedTask's ID.
func (c *Client) RetryFailed(ctx context.Context, taskID string) error {
	return c.Sync.RetryFailed(ctx, taskID)
}

// DismissFailed forgets a write the server refused: it leaves the failed
// list, and its row shows the server's version (or disappears, if the
// server never had it).
func (c *Client) DismissFailed(ctx context.Context, taskID string) error {
	return c.Sync.DismissFailed(ctx, taskID)
}

// FailedTasks returns the user's writes the server refused for good, with
// their errors. A refused write's row shows the server's version again.
func (c *Client) FailedTasks(ctx context.Context) ([]offlinedb.FailedTask, error) {
	return c.DB.FailedTasks(ctx, c.userID)
}
