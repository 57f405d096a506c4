package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/changelog"
)

// Optimistic state is a rebase, as Replicache does it: server data is
// applied to the server's version of a row, and the pending writes on it
// are replayed over the result, in outbox order, in the same transaction.
// So an event or a server answer never shows a row without a pending
// write that is newer than it (a pending unreact stays unreacted, a
// pending edit keeps its text), and a write the server refused rolls its
// row back to the server's version.
//
// A row a pending write changed is overlaid (message_overlays,
// reaction_overlays, read_overlays); its server version waits in
// message_base, reaction_base or read_base (none: the server has no such
// row). Every transaction
// that applies server data or task outcomes runs restoreOverlaysTx first
// (the overlaid rows become their server versions) and rebaseTx last (the
// base rows are taken again, the pending writes replayed, and overlays
// left with no pending write dropped). A store with no pending edits,
// deletes, reactions or read marks pays one query for each.

// overlayMessageTx overlays a message a pending write is about to change,
// keeping its server version.
func overlayMessageTx(ctx context.Context, tx *sqlx.Tx, id, cid string) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO message_overlays (id, cid) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, cid)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // overlaid already: its base is kept
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO message_base SELECT * FROM messages WHERE id = ? AND status = 'sent'`, id)
	return err
}

// overlayReactionTx overlays a reaction a pending write is about to
// change, keeping its server version.
func overlayReactionTx(ctx context.Context, tx *sqlx.Tx, messageID, userID, typ, cid string) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO reaction_overlays (message_id, user_id, type, cid) VALUES (?, ?, ?, ?)
ON CONFLICT (message_id, user_id, type) DO NOTHING`, messageID, userID, typ, cid)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO reaction_base SELECT * FROM reactions
WHERE message_id = ? AND user_id = ? AND type = ? AND status = 'sent'`, messageID, userID, typ)
	return err
}

// overlayReadTx overlays userID's read of cid, which a pending mark is
// about to change, keeping its server version.
func overlayReadTx(ctx context.Context, tx *sqlx.Tx, cid, userID string) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO read_overlays (cid, user_id) VALUES (?, ?) ON CONFLICT (cid, user_id) DO NOTHING`, cid, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO read_base SELECT * FROM reads WHERE cid = ? AND user_id = ?`, cid, userID)
	return err
}

func hasOverlaysTx(ctx context.Context, tx *sqlx.Tx) (bool, error) {
	var any bool
	err := tx.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM message_overlays) OR EXISTS (SELECT 1 FROM reaction_overlays)
	OR EXISTS (SELECT 1 FROM read_overlays) OR EXISTS (SELECT 1 FROM record_overlays)`).Scan(&any)
	return any, err
}

// restoreOverlaysTx puts the server version of every overlaid row back
// (removing the row when the server has none).
func restoreOverlaysTx(ctx context.Context, tx *sqlx.Tx) error {
	for _, q := range []string{
		`DELETE FROM messages WHERE id IN (SELECT id FROM message_overlays)`,
		`INSERT INTO messages SELECT * FROM message_base WHERE id IN (SELECT id FROM message_overlays)`,
		`DELETE FROM reactions WHERE (message_id, user_id, type) IN (SELECT message_id, user_id, type FROM reaction_overlays)`,
		`INSERT INTO reactions SELECT * FROM reaction_base
WHERE (message_id, user_id, type) IN (SELECT message_id, user_id, type FROM reaction_overlays)`,
		`DELETE FROM reads WHERE (cid, user_id) IN (SELECT cid, user_id FROM read_overlays)`,
		// A read hangs off its channel, which may have gone meanwhile.
		`INSERT INTO reads SELECT * FROM read_base
WHERE (cid, user_id) IN (SELECT cid, user_id FROM read_overlays) AND cid IN (SELECT cid FROM channels)`,
		`DELETE FROM records WHERE (cid, collection, id) IN (SELECT cid, collection, id FROM record_overlays)`,
		`INSERT INTO records SELECT * FROM record_base WHERE (cid, collection, id) IN (SELECT cid, collection, id FROM record_overlays)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("offlinedb: restore overlays: %w", err)
		}
	}
	return nil
}

// The op types whose pending writes overlay messages and reactions, as SQL
// lists (see writeKinds).
var (
	messageOverlayTypes  = opTypesWith(overlayMessage)
	reactionOverlayTypes = opTypesWith(overlayReaction)
	readOverlayTypes     = opTypesWith(overlayRead)
	recordOverlayTypes   = opTypesWith(overlayRecord)
)

// rebaseTx takes the server version of every overlaid row again, drops
// the overlays no pending write needs any more, and replays the pending
// writes on the others in outbox order.
func rebaseTx(ctx context.Context, tx *sqlx.Tx) error {
	for _, q := range []string{
		`DELETE FROM message_overlays WHERE id NOT IN (SELECT message_id FROM pending_tasks
	WHERE type IN (` + messageOverlayTypes + `))`,
		`DELETE FROM reaction_overlays WHERE (message_id, user_id, type) NOT IN (SELECT message_id, user_id, json_extract(payload, '$.type')
	FROM pending_tasks WHERE type IN (` + reactionOverlayTypes + `))`,
		`DELETE FROM message_base`,
		`INSERT INTO message_base SELECT * FROM messages WHERE id IN (SELECT id FROM message_overlays) AND status = 'sent'`,
		`DELETE FROM reaction_base`,
		`INSERT INTO reaction_base SELECT * FROM reactions
WHERE (message_id, user_id, type) IN (SELECT message_id, user_id, type FROM reaction_overlays) AND status = 'sent'`,
		`DELETE FROM read_overlays WHERE (cid, user_id) NOT IN (SELECT cid, user_id FROM pending_tasks
	WHERE type IN (` + readOverlayTypes + `))`,
		`DELETE FROM read_base`,
		`INSERT INTO read_base SELECT * FROM reads WHERE (cid, user_id) IN (SELECT cid, user_id FROM read_overlays)`,
		`DELETE FROM record_overlays WHERE (cid, collection, id) NOT IN (SELECT cid, collection, record_id FROM pending_tasks
	WHERE type IN (` + recordOverlayTypes + `))`,
		`DELETE FROM record_base`,
		`INSERT INTO record_base SELECT * FROM records WHERE (cid, collection, id) IN (SELECT cid, collection, id FROM record_overlays)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("offlinedb: rebase: %w", err)
		}
	}
	tasks, err := selectTasks(ctx, tx, `SELECT * FROM pending_tasks
WHERE message_id IN (SELECT id FROM message_overlays) AND type IN (`+messageOverlayTypes+`)
OR (message_id, user_id, json_extract(payload, '$.type')) IN (SELECT message_id, user_id, type FROM reaction_overlays)
	AND type IN (`+reactionOverlayTypes+`)
OR (cid, user_id) IN (SELECT cid, user_id FROM read_overlays) AND type IN (`+readOverlayTypes+`)
OR (cid, collection, record_id) IN (SELECT cid, collection, id FROM record_overlays) AND type IN (`+recordOverlayTypes+`)
ORDER BY seq`)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if err := replayTx(ctx, tx, t); err != nil {
			return fmt.Errorf("offlinedb: replay task %s: %w", t.ID, err)
		}
	}
	return nil
}

// withOverlays runs fn between restoreOverlaysTx and rebaseTx when the
// store has overlays, and alone when not.
func withOverlays(ctx context.Context, tx *sqlx.Tx, fn func() error) error {
	has, err := hasOverlaysTx(ctx, tx)
	if err != nil {
		return err
	}
	if has {
		if err := restoreOverlaysTx(ctx, tx); err != nil {
			return err
		}
	}
	if err := fn(); err != nil || !has {
		return err
	}
	return rebaseTx(ctx, tx)
}

// replayTx applies a pending write's optimistic effect again.
func replayTx(ctx context.Context, tx *sqlx.Tx, t PendingTask) error {
	if replay := writeKinds[t.Type].replay; replay != nil {
		return replay(ctx, tx, t, t.CreatedAt)
	}
	return nil
}

// RetryFailed moves a failed task back to the outbox, at its end, and
// writes its optimistic effect again, in one transaction. A send keeps its
// id (the message's); any other write gets a new idempotency key, so the
// server takes it afresh rather than repeating its refusal. A record
// write is made again on the record as the store holds it from the
// server now (the refusal brought it): its precondition (if_version) and
// its patch's base_version become that version, so the retry is the
// user's "apply mine over theirs". It returns the
// task as queued, or ErrTaskNotFound.
func (d *DB) RetryFailed(ctx context.Context, taskID string) (PendingTask, error) {
	if d.closed.Load() {
		return PendingTask{}, ErrClosed
	}
	now := d.now()
	var t PendingTask
	n := &changelog.Note{Kind: changelog.Write}
	err := d.inTxNote(ctx, n, func(tx *sqlx.Tx) error {
		tasks, err := selectTasks(ctx, tx, `SELECT `+failedTaskCols+` FROM failed_tasks WHERE task_id = ?`, taskID)
		if err != nil {
			return err
		}
		if len(tasks) == 0 {
			return fmt.Errorf("%w: %q", ErrTaskNotFound, taskID)
		}
		t = tasks[0]
		n.Task(t.CID, t.MessageID, t.Collection, t.RecordID)
		if _, err := tx.ExecContext(ctx, `DELETE FROM failed_tasks WHERE task_id = ?`, taskID); err != nil {
			return err
		}
		k := writeKinds[t.Type]
		if k.retry != nil {
			if err := k.retry(ctx, tx, &t); err != nil {
				return err
			}
		}
		switch {
		case !k.keyless:
			t.ID = NewTaskID()
		case k.dismiss != nil:
			// Its id is its row's: the failed row makes way for the
			// pending one.
			if err := k.dismiss(ctx, tx, t); err != nil {
				return err
			}
		}
		_, err = addTaskTx(ctx, tx, t, now)
		return err
	})
	if err != nil {
		return PendingTask{}, fmt.Errorf("offlinedb: retry task: %w", err)
	}
	return t, nil
}
