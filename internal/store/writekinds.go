package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/protocol"
)

// A pending task is a wire op (protocol.BatchOp) waiting to be sent: its
// Type is the op's type and its Payload the op's body, as POST /batch
// takes them. writeKinds says, for each op type, what the outbox does
// locally: the optimistic effect, how the op names its target, which
// event the server's answer stands for, and what a refusal marks. It is
// the one place of this package that knows the kinds of write; a kind
// missing from it cannot be queued.
var writeKinds = map[protocol.BatchOpType]writeKind{
	protocol.OpSendMessage: {
		onMessage: true, opOnChannel: true, keyless: true, overlay: overlayMessage,
		queue:   queueSendMessage,
		replay:  replaySendMessage,
		answer:  answerType(protocol.EventMessageNew),
		refused: markMessageFailed,
		dismiss: dismissSendMessage,
	},
	protocol.OpUpdateMessage: {
		onMessage: true, overlay: overlayMessage,
		queue:   queueUpdateMessage,
		replay:  replayUpdateMessage,
		answer:  answerType(protocol.EventMessageUpdated),
		refused: markMessageFailed,
	},
	protocol.OpDeleteMessage: {
		onMessage: true, overlay: overlayMessage,
		queue:  queueDeleteMessage,
		replay: replayDeleteMessage,
		answer: func(t PendingTask, ev *protocol.Event) {
			var body protocol.DeleteMessageBody
			_ = decodePayload(t, &body)
			ev.Type, ev.HardDelete = protocol.EventMessageDeleted, body.Hard
		},
		refused: markMessageFailed,
	},
	protocol.OpSendReaction: {
		onMessage: true, overlay: overlayReaction,
		queue:   queueReaction(replaySendReaction),
		replay:  replaySendReaction,
		answer:  answerType(protocol.EventReactionNew),
		refused: markReactionFailed,
		dismiss: dismissSendReaction,
	},
	protocol.OpDeleteReaction: {
		onMessage: true, overlay: overlayReaction,
		queue:   queueReaction(replayDeleteReaction),
		replay:  replayDeleteReaction,
		answer:  answerType(protocol.EventReactionDeleted),
		refused: nil, // the reaction rolls back to the server's
	},
	protocol.OpCreateRecord:  recordWrite(replayCreateRecord, protocol.EventRecordCreated),
	protocol.OpReplaceRecord: recordWrite(replayReplaceRecord, protocol.EventRecordUpdated),
	protocol.OpPatchRecord:   recordWrite(replayPatchRecord, protocol.EventRecordUpdated),
	protocol.OpDeleteRecord:  recordWrite(replayDeleteRecord, protocol.EventRecordDeleted),
	protocol.OpMarkRead: {
		opOnChannel: true, overlay: overlayRead,
		queue:  queueMarkRead,
		replay: replayMarkRead,
		answer: answerType(protocol.EventNotificationMarkRead),
	},
}

// writeKind is what the outbox does for one op type.
type writeKind struct {
	// onMessage: the write is on a message; the task names it
	// (PendingTask.MessageID).
	onMessage bool
	// opOnChannel: the op names its channel (BatchOp.CID); else its
	// message (BatchOp.MessageID).
	opOnChannel bool
	// keyless: the op carries no idempotency key; its body's client-made
	// id, which is the task's ID, makes it exactly-once.
	keyless bool
	// overlay is the kind of row the write overlays while pending.
	overlay overlayKind
	// queue writes the optimistic effect of a task being queued. Queued
	// means the task is to be stored at the end of the outbox; Folded or
	// Cancelled that queue changed the outbox instead.
	queue func(ctx context.Context, tx *sqlx.Tx, t PendingTask, now time.Time) (AddResult, error)
	// replay writes the optimistic effect again over the server's row
	// (see overlay.go); nil for a write that overlays nothing.
	replay func(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error
	// answer sets the type (and flags) of the event the server's answer
	// to the op stands for.
	answer func(t PendingTask, ev *protocol.Event)
	// refused marks the optimistic row of a write refused for good; nil
	// when the rollback to the server's row says enough.
	// refusal is the server's error body, if it sent one.
	refused func(ctx context.Context, tx *sqlx.Tx, t PendingTask, refusal *protocol.APIError, reason string) error
	// retry rewrites a refused task's payload as RetryFailed queues it
	// again; nil keeps it as it is.
	retry func(ctx context.Context, tx *sqlx.Tx, t *PendingTask) error
	// dismiss removes the optimistic row of a refused write the app
	// dismissed; nil when there is none left.
	dismiss func(ctx context.Context, tx *sqlx.Tx, t PendingTask) error
}

// overlayKind is the kind of row a pending write overlays.
type overlayKind int

const (
	overlayNone     overlayKind = iota
	overlayMessage              // the message PendingTask.MessageID
	overlayReaction             // the user's reaction of the body's type on it
	overlayRead                 // the user's read of PendingTask.CID
	overlayRecord               // the record (CID, Collection, RecordID)
)

// opTypesWith returns, as a SQL list of string literals, the op types
// whose writes overlay rows of kind k.
func opTypesWith(k overlayKind) string {
	var out []string
	for typ, w := range writeKinds {
		if w.overlay == k {
			out = append(out, "'"+strings.ReplaceAll(string(typ), "'", "''")+"'")
		}
	}
	if len(out) == 0 {
		return "NULL"
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func answerType(typ protocol.EventType) func(PendingTask, *protocol.Event) {
	return func(_ PendingTask, ev *protocol.Event) { ev.Type = typ }
}

func execTx(ctx context.Context, tx *sqlx.Tx, q string, args ...any) error {
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

func queueSendMessage(ctx context.Context, tx *sqlx.Tx, t PendingTask, now time.Time) (AddResult, error) {
	var req protocol.SendMessageRequest
	if err := decodePayload(t, &req); err != nil {
		return 0, err
	}
	if req.Message.ID != t.MessageID {
		return 0, fmt.Errorf("%w: message id %q differs from the task's %q", ErrInvalidTask, req.Message.ID, t.MessageID)
	}
	res, err := insertPendingMessage(ctx, tx, t, req, now)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, fmt.Errorf("%w: message %q already exists", ErrInvalidTask, t.MessageID)
	}
	return Queued, nil
}

func replaySendMessage(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	var req protocol.SendMessageRequest
	if err := decodePayload(t, &req); err != nil {
		return err
	}
	_, err := insertPendingMessage(ctx, tx, t, req, at)
	return err
}

type execResult interface{ RowsAffected() (int64, error) }

func insertPendingMessage(ctx context.Context, tx *sqlx.Tx, t PendingTask, req protocol.SendMessageRequest, at time.Time) (execResult, error) {
	return tx.ExecContext(ctx, `INSERT INTO messages (id, cid, user_id, text, parent_id, created_at, updated_at, extra, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT (id) DO NOTHING`,
		t.MessageID, t.CID, t.UserID, req.Message.Text, req.Message.ParentID, at.UnixNano(), at.UnixNano(), jsonArg(req.Message.Extra))
}

// queueUpdateMessage folds an edit of a message whose send is still
// queued into that send; else it overlays the message and edits it.
func queueUpdateMessage(ctx context.Context, tx *sqlx.Tx, t PendingTask, now time.Time) (AddResult, error) {
	var req protocol.UpdateMessageRequest
	if err := decodePayload(t, &req); err != nil {
		return 0, err
	}
	send, err := pendingSend(ctx, tx, t.MessageID)
	if err != nil {
		return 0, err
	}
	if send == nil {
		if err := overlayMessageTx(ctx, tx, t.MessageID, t.CID); err != nil {
			return 0, err
		}
		return Queued, replayUpdateMessage(ctx, tx, t, now)
	}
	if err := replayUpdateMessage(ctx, tx, t, now); err != nil {
		return 0, err
	}
	var sreq protocol.SendMessageRequest
	if err := decodePayload(*send, &sreq); err != nil {
		return 0, err
	}
	sreq.Message.Text = req.Text
	if len(req.Extra) > 0 {
		sreq.Message.Extra = req.Extra
	}
	raw, err := json.Marshal(sreq)
	if err != nil {
		return 0, err
	}
	return Folded, execTx(ctx, tx, `UPDATE pending_tasks SET payload = ? WHERE seq = ?`, string(raw), send.Seq)
}

func replayUpdateMessage(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	var req protocol.UpdateMessageRequest
	if err := decodePayload(t, &req); err != nil {
		return err
	}
	return execTx(ctx, tx, `UPDATE messages SET text = ?, extra = coalesce(?, extra), updated_at = ?, status = 'pending', error = NULL WHERE id = ?`,
		req.Text, jsonArg(req.Extra), at.UnixNano(), t.MessageID)
}

// queueDeleteMessage cancels a message whose send is still queued, with
// every write queued for it; else it overlays the message and deletes it.
func queueDeleteMessage(ctx context.Context, tx *sqlx.Tx, t PendingTask, now time.Time) (AddResult, error) {
	send, err := pendingSend(ctx, tx, t.MessageID)
	if err != nil {
		return 0, err
	}
	if send != nil {
		// Never sent: drop every queued write of the message and its
		// optimistic rows; the server never hears of it.
		for _, q := range []string{
			`DELETE FROM pending_tasks WHERE message_id = ?`,
			`DELETE FROM reactions WHERE message_id = ? AND status <> 'sent'`,
			`DELETE FROM messages WHERE id = ? AND status <> 'sent'`,
		} {
			if err := execTx(ctx, tx, q, t.MessageID); err != nil {
				return 0, err
			}
		}
		return Cancelled, nil
	}
	if err := overlayMessageTx(ctx, tx, t.MessageID, t.CID); err != nil {
		return 0, err
	}
	return Queued, replayDeleteMessage(ctx, tx, t, now)
}

func replayDeleteMessage(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	return execTx(ctx, tx, `UPDATE messages SET deleted_at = coalesce(deleted_at, ?), status = 'pending', error = NULL WHERE id = ?`,
		at.UnixNano(), t.MessageID)
}

// reactionType returns the reaction type a reaction op's body names.
func reactionType(t PendingTask) (string, error) {
	var body struct {
		Type string `json:"type"`
	}
	if err := decodePayload(t, &body); err != nil {
		return "", err
	}
	if body.Type == "" {
		return "", fmt.Errorf("%w: reaction has no type", ErrInvalidTask)
	}
	return body.Type, nil
}

// queueReaction returns the queue function of a reaction write: it
// overlays the reaction and makes its change with replay.
func queueReaction(replay func(context.Context, *sqlx.Tx, PendingTask, time.Time) error) func(context.Context, *sqlx.Tx, PendingTask, time.Time) (AddResult, error) {
	return func(ctx context.Context, tx *sqlx.Tx, t PendingTask, now time.Time) (AddResult, error) {
		typ, err := reactionType(t)
		if err != nil {
			return 0, err
		}
		if err := overlayReactionTx(ctx, tx, t.MessageID, t.UserID, typ, t.CID); err != nil {
			return 0, err
		}
		return Queued, replay(ctx, tx, t, now)
	}
}

func replaySendReaction(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	var req protocol.SendReactionRequest
	if err := decodePayload(t, &req); err != nil {
		return err
	}
	return execTx(ctx, tx, `INSERT INTO reactions (message_id, user_id, type, cid, score, created_at, updated_at, extra, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')
ON CONFLICT (message_id, user_id, type) DO UPDATE SET score = excluded.score, extra = coalesce(excluded.extra, extra),
	updated_at = excluded.updated_at, status = 'pending', error = NULL`,
		t.MessageID, t.UserID, req.Type, t.CID, req.Score, at.UnixNano(), at.UnixNano(), jsonArg(req.Extra))
}

func replayDeleteReaction(ctx context.Context, tx *sqlx.Tx, t PendingTask, _ time.Time) error {
	typ, err := reactionType(t)
	if err != nil {
		return err
	}
	return execTx(ctx, tx, `DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND type = ?`, t.MessageID, t.UserID, typ)
}

// queueMarkRead overlays the user's read of the channel and marks it.
func queueMarkRead(ctx context.Context, tx *sqlx.Tx, t PendingTask, now time.Time) (AddResult, error) {
	if err := overlayReadTx(ctx, tx, t.CID, t.UserID); err != nil {
		return 0, err
	}
	return Queued, replayMarkRead(ctx, tx, t, now)
}

// replayMarkRead sets the user's read of the channel, if the channel is
// known (a read hangs off it); the version stays the server's.
func replayMarkRead(ctx context.Context, tx *sqlx.Tx, t PendingTask, at time.Time) error {
	var req protocol.MarkReadRequest
	if err := decodePayload(t, &req); err != nil {
		return err
	}
	return execTx(ctx, tx, `INSERT INTO reads (cid, user_id, last_read_at, last_read_message_id, unread_messages)
SELECT ?1, ?2, ?3, ?4, 0 WHERE EXISTS (SELECT 1 FROM channels WHERE cid = ?1)
ON CONFLICT (cid, user_id) DO UPDATE SET last_read_at = excluded.last_read_at,
	last_read_message_id = excluded.last_read_message_id, unread_messages = 0`,
		t.CID, t.UserID, at.UnixNano(), req.MessageID)
}

func markMessageFailed(ctx context.Context, tx *sqlx.Tx, t PendingTask, _ *protocol.APIError, reason string) error {
	return execTx(ctx, tx, `UPDATE messages SET status = 'failed', error = ? WHERE id = ? AND status <> 'sent'`, reason, t.MessageID)
}

func markReactionFailed(ctx context.Context, tx *sqlx.Tx, t PendingTask, _ *protocol.APIError, reason string) error {
	typ, _ := reactionType(t)
	return execTx(ctx, tx, `UPDATE reactions SET status = 'failed', error = ? WHERE message_id = ? AND user_id = ? AND type = ? AND status <> 'sent'`,
		reason, t.MessageID, t.UserID, typ)
}

func dismissSendMessage(ctx context.Context, tx *sqlx.Tx, t PendingTask) error {
	return execTx(ctx, tx, `DELETE FROM messages WHERE id = ? AND status = 'failed'`, t.MessageID)
}

func dismissSendReaction(ctx context.Context, tx *sqlx.Tx, t PendingTask) error {
	typ, _ := reactionType(t)
	return execTx(ctx, tx, `DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND type = ? AND status = 'failed'`,
		t.MessageID, t.UserID, typ)
}
