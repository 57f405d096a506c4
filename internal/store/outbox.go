package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/changelog"
	"github.com/outpostsync/outpost/protocol"
)

// NewTaskID returns a random id for a task that has no client-made id of
// its own.
func NewTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TaskOp returns the task as the op the drain sends.
func TaskOp(t PendingTask) protocol.BatchOp {
	k := writeKinds[t.Type]
	op := protocol.BatchOp{Type: t.Type, Key: t.ID, Body: t.Payload}
	if k.keyless {
		op.Key = ""
	}
	switch {
	case k.overlay == overlayRecord:
		op.CID, op.Collection, op.RecordID = t.CID, t.Collection, t.RecordID
	case k.opOnChannel:
		op.CID = t.CID
	default:
		op.MessageID = t.MessageID
	}
	return op
}

// newTask makes the task of an op. It and the New*Task functions below
// are the one mapping from a write of the app to the op that carries it.
func newTask(typ protocol.BatchOpType, id, userID, cid, messageID string, body any) (PendingTask, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return PendingTask{}, fmt.Errorf("%w: payload: %v", ErrInvalidTask, err)
	}
	return PendingTask{ID: id, UserID: userID, Type: typ, CID: cid, MessageID: messageID, Payload: raw}, nil
}

// NewSendMessageTask makes the task that sends a message; its id is the
// message's client-made id.
func NewSendMessageTask(userID, cid string, msg protocol.MessageInput) (PendingTask, error) {
	return newTask(protocol.OpSendMessage, msg.ID, userID, cid, msg.ID, protocol.SendMessageRequest{Message: msg})
}

// NewUpdateMessageTask makes the task that edits a message.
func NewUpdateMessageTask(userID, cid, messageID string, req protocol.UpdateMessageRequest) (PendingTask, error) {
	return newTask(protocol.OpUpdateMessage, NewTaskID(), userID, cid, messageID, req)
}

// NewDeleteMessageTask makes the task that deletes a message.
func NewDeleteMessageTask(userID, cid, messageID string, hard bool) (PendingTask, error) {
	return newTask(protocol.OpDeleteMessage, NewTaskID(), userID, cid, messageID, protocol.DeleteMessageBody{Hard: hard})
}

// NewSendReactionTask makes the task that adds a reaction.
func NewSendReactionTask(userID, cid, messageID string, req protocol.SendReactionRequest) (PendingTask, error) {
	return newTask(protocol.OpSendReaction, NewTaskID(), userID, cid, messageID, req)
}

// NewDeleteReactionTask makes the task that removes a reaction.
func NewDeleteReactionTask(userID, cid, messageID, reactionType string) (PendingTask, error) {
	return newTask(protocol.OpDeleteReaction, NewTaskID(), userID, cid, messageID, protocol.DeleteReactionBody{Type: reactionType})
}

// NewMarkReadTask makes the task that marks a channel read.
func NewMarkReadTask(userID, cid string, req protocol.MarkReadRequest) (PendingTask, error) {
	return newTask(protocol.OpMarkRead, NewTaskID(), userID, cid, "", req)
}

// AddResult says what AddPendingTask did with a task.
type AddResult int

const (
	// Queued: the task is at the end of the outbox.
	Queued AddResult = iota
	// Folded: the task changed a send still in the outbox (an edit of a
	// message not yet sent) instead of being queued after it.
	Folded
	// Cancelled: the task undid a write still in the outbox (a delete of a
	// message not yet sent); neither will reach the server.
	Cancelled
)

func (r AddResult) String() string {
	switch r {
	case Folded:
		return "folded"
	case Cancelled:
		return "cancelled"
	}
	return "queued"
}

// AddPendingTask puts a task at the end of the outbox and, in the same
// transaction, writes its optimistic local effect: a new message or
// reaction row with status "pending", an edited text, a deletion time, a
// read mark.
//
// A write on a message whose send is still in the outbox never overtakes
// it: an edit folds into the pending send (Folded), and a delete cancels
// the send and everything queued for that message (Cancelled).
func (d *DB) AddPendingTask(ctx context.Context, task PendingTask) (AddResult, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	if err := validateTask(task); err != nil {
		return 0, err
	}
	now := d.now()
	var res AddResult
	n := &changelog.Note{Kind: changelog.Write}
	n.Task(task.CID, task.MessageID, task.Collection, task.RecordID)
	err := d.inTxNote(ctx, n, func(tx *sqlx.Tx) error {
		var err error
		res, err = addTaskTx(ctx, tx, task, now)
		return err
	})
	return res, err
}

func validateTask(t PendingTask) error {
	k, known := writeKinds[t.Type]
	switch {
	case !known:
		return fmt.Errorf("%w: unknown type %q", ErrInvalidTask, t.Type)
	case t.ID == "":
		return fmt.Errorf("%w: no id", ErrInvalidTask)
	case t.UserID == "":
		return fmt.Errorf("%w: no user id", ErrInvalidTask)
	case t.CID == "":
		return fmt.Errorf("%w: no cid", ErrInvalidTask)
	case k.onMessage && t.MessageID == "":
		return fmt.Errorf("%w: %s needs a message id", ErrInvalidTask, t.Type)
	case k.overlay == overlayRecord && protocol.ValidateRecordKey(t.Collection, t.RecordID) != nil:
		return fmt.Errorf("%w: %s: %w", ErrInvalidTask, t.Type, protocol.ValidateRecordKey(t.Collection, t.RecordID))
	case !json.Valid(t.Payload):
		return fmt.Errorf("%w: payload is not JSON", ErrInvalidTask)
	}
	return nil
}

func decodePayload(t PendingTask, v any) error {
	if err := json.Unmarshal(t.Payload, v); err != nil {
		return fmt.Errorf("%w: %s payload: %v", ErrInvalidTask, t.Type, err)
	}
	return nil
}

// pendingSend returns the send-message task still queued for a message.
func pendingSend(ctx context.Context, tx *sqlx.Tx, messageID string) (*PendingTask, error) {
	tasks, err := selectTasks(ctx, tx, `SELECT * FROM pending_tasks WHERE type = ? AND message_id = ? AND claimed = 0`,
		protocol.OpSendMessage, messageID)
	if err != nil || len(tasks) == 0 {
		return nil, err
	}
	return &tasks[0], nil
}

func addTaskTx(ctx context.Context, tx *sqlx.Tx, t PendingTask, now time.Time) (AddResult, error) {
	res, err := writeKinds[t.Type].queue(ctx, tx, t, now)
	if err != nil || res != Queued {
		return res, err
	}
	err = execTx(ctx, tx, `INSERT INTO pending_tasks (task_id, user_id, type, cid, message_id, collection, record_id, payload, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.UserID, string(t.Type), t.CID, t.MessageID, t.Collection, t.RecordID, string(t.Payload), now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("offlinedb: queue task: %w", err)
	}
	return Queued, nil
}

// taskRow is a pending_tasks row as SQL returns it.
type taskRow struct {
	Seq          int64         `db:"seq"`
	ID           string        `db:"task_id"`
	UserID       string        `db:"user_id"`
	Type         string        `db:"type"`
	CID          string        `db:"cid"`
	MessageID    string        `db:"message_id"`
	Collection   string        `db:"collection"`
	RecordID     string        `db:"record_id"`
	Payload      string        `db:"payload"`
	Attempts     int           `db:"attempts"`
	LastError    string        `db:"last_error"`
	CreatedNanos int64         `db:"created_at"`
	NextNanos    sql.NullInt64 `db:"next_attempt_at"`
	Claimed      bool          `db:"claimed"`
}

func (r taskRow) task() PendingTask {
	return PendingTask{Seq: r.Seq, ID: r.ID, UserID: r.UserID, Type: protocol.BatchOpType(r.Type), CID: r.CID, MessageID: r.MessageID,
		Collection: r.Collection, RecordID: r.RecordID, Payload: json.RawMessage(r.Payload), Attempts: r.Attempts, LastError: r.LastError,
		CreatedAt: time.Unix(0, r.CreatedNanos).UTC(), NextAttemptAt: fromNanos(r.NextNanos)}
}

func selectTasks(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]PendingTask, error) {
	var rows []taskRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("offlinedb: read tasks: %w", err)
	}
	out := make([]PendingTask, len(rows))
	for i, r := range rows {
		out[i] = r.task()
	}
	return out, nil
}

// PendingTasks returns the outbox of a user (of every user when userID
// is empty) in the order the tasks must run.
func (d *DB) PendingTasks(ctx context.Context) ([]PendingTask, error) {
	userID, err := d.boundUser()
	if err != nil {
		return nil, err
	}
	return selectTasks(ctx, d.db, `SELECT * FROM pending_tasks WHERE user_id = ? ORDER BY seq`, userID)
}

// ClaimPendingTask marks a task as being sent and returns it as stored now
// (an edit may have folded into it since it was listed). From then on, an
// edit or delete of its message is queued after it instead of folding into
// it. UpdatePendingTask releases the claim.
func (d *DB) ClaimPendingTask(ctx context.Context, taskID string) (PendingTask, error) {
	if d.closed.Load() {
		return PendingTask{}, ErrClosed
	}
	var out PendingTask
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE pending_tasks SET claimed = 1 WHERE task_id = ?`, taskID); err != nil {
			return err
		}
		tasks, err := selectTasks(ctx, tx, `SELECT * FROM pending_tasks WHERE task_id = ?`, taskID)
		if err != nil {
			return err
		}
		if len(tasks) == 0 {
			return fmt.Errorf("%w: %q", ErrTaskNotFound, taskID)
		}
		out = tasks[0]
		return nil
	})
	return out, err
}

// UpdatePendingTask stores a task's retry bookkeeping (attempts, last
// error, when the next attempt is due). It keeps the claim: a send that
// failed for a temporary reason (a timeout, a cut connection) may have
// reached the server, so later edits and deletes must queue after it.
func (d *DB) UpdatePendingTask(ctx context.Context, task PendingTask) error {
	if d.closed.Load() {
		return ErrClosed
	}
	done, err := d.turnToWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := d.db.ExecContext(ctx, `UPDATE pending_tasks SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE task_id = ?`,
		task.Attempts, task.LastError, nanos(task.NextAttemptAt), task.ID)
	if err != nil {
		return fmt.Errorf("offlinedb: update task: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %q", ErrTaskNotFound, task.ID)
	}
	return nil
}

// DeletePendingTask removes a task the server has applied and, in the same
// transaction, runs apply: the queries that store the server's answer
// (EventQueries of the write's event, for one), so the optimistic row
// becomes the server's. Deleting a task that is gone already is not an error.
func (d *DB) DeletePendingTask(ctx context.Context, taskID string, apply ...Query) error {
	if d.closed.Load() {
		return ErrClosed
	}
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		return withOverlays(ctx, tx, func() error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM pending_tasks WHERE task_id = ?`, taskID); err != nil {
				return fmt.Errorf("offlinedb: delete task: %w", err)
			}
			return d.runFast(ctx, tx, apply)
		})
	})
}

// MoveToFailed moves a task the server refused for good from the outbox to
// the failed list, with the reason, and marks its optimistic row "failed".
func (d *DB) MoveToFailed(ctx context.Context, taskID string, cause error) error {
	if d.closed.Load() {
		return ErrClosed
	}
	now := d.now()
	n := &changelog.Note{Kind: changelog.Task}
	return d.inTxNote(ctx, n, func(tx *sqlx.Tx) error {
		if err := noteTasks(ctx, tx, n, []string{taskID}); err != nil {
			return err
		}
		return withOverlays(ctx, tx, func() error { return moveToFailedTx(ctx, tx, taskID, cause, now) })
	})
}

func moveToFailedTx(ctx context.Context, tx *sqlx.Tx, taskID string, cause error, at time.Time) error {
	msg, code := "unknown error", 0
	var refusal *protocol.APIError
	if cause != nil {
		msg = cause.Error()
		if ae, ok := protocol.AsAPIError(cause); ok {
			code, refusal = ae.Code, ae
		}
	}
	tasks, err := selectTasks(ctx, tx, `SELECT * FROM pending_tasks WHERE task_id = ?`, taskID)
	if err != nil {
		return err
	}
	if len(tasks) == 0 {
		return fmt.Errorf("%w: %q", ErrTaskNotFound, taskID)
	}
	t := tasks[0]
	if _, err := tx.ExecContext(ctx, `INSERT INTO failed_tasks (task_id, user_id, type, cid, message_id, collection, record_id, payload,
	attempts, error, error_code, refusal, created_at, failed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.UserID, string(t.Type), t.CID, t.MessageID, t.Collection, t.RecordID, string(t.Payload),
		t.Attempts, msg, code, refusalArg(refusal), t.CreatedAt.UnixNano(), at.UnixNano()); err != nil {
		return fmt.Errorf("offlinedb: record failed task: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pending_tasks WHERE task_id = ?`, taskID); err != nil {
		return err
	}
	if refused := writeKinds[t.Type].refused; refused != nil {
		return refused(ctx, tx, t, refusal, msg)
	}
	return nil
}

// refusalArg is a refusal's error body as stored in failed_tasks.refusal.
func refusalArg(ae *protocol.APIError) any {
	if ae == nil {
		return nil
	}
	raw, err := json.Marshal(ae)
	if err != nil {
		return nil
	}
	return string(raw)
}

// failedTaskCols reads a failed_tasks row as a pending_tasks row.
const failedTaskCols = `seq, task_id, user_id, type, cid, message_id, collection, record_id, payload, attempts,
	'' AS last_error, created_at, NULL AS next_attempt_at, 0 AS claimed`

// ClaimPendingTasks claims several tasks in one transaction, as
// ClaimPendingTask claims one, and returns them as stored now, in outbox
// order; a task gone since it was listed is left out.
func (d *DB) ClaimPendingTasks(ctx context.Context, taskIDs []string) ([]PendingTask, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	if len(taskIDs) == 0 {
		return nil, nil
	}
	in, args := inList(taskIDs)
	var out []PendingTask
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE pending_tasks SET claimed = 1 WHERE task_id IN (`+in+`)`, args...); err != nil {
			return err
		}
		var err error
		out, err = selectTasks(ctx, tx, `SELECT * FROM pending_tasks WHERE task_id IN (`+in+`) ORDER BY seq`, args...)
		return err
	})
	return out, err
}

func inList(ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.Repeat("?,", len(ids)-1) + "?", args
}

// TaskOutcome is what became of a task that was sent: applied, with the
// queries that store the server's answer, or refused for good.
type TaskOutcome struct {
	TaskID string
	// Result is the server's answer to an applied task: the rows it
	// returned replace the task's optimistic rows. Nil stores nothing;
	// the write's event brings the rows.
	Result *protocol.BatchResult
	// Failed, when set, is why the server refused the task for good: it
	// moves to the failed list (see MoveToFailed) and Result is ignored.
	Failed error
}

// CompleteTasks records the outcomes of tasks sent together, in one
// transaction: the applied ones leave the outbox with their answers
// stored, the refused ones move to the failed list. A task that is gone
// already is skipped.
func (d *DB) CompleteTasks(ctx context.Context, outcomes []TaskOutcome) error {
	if d.closed.Load() {
		return ErrClosed
	}
	now := d.now()
	var done []string
	for _, o := range outcomes {
		if o.Failed == nil {
			done = append(done, o.TaskID)
		}
	}
	ids := make([]string, len(outcomes))
	for i, o := range outcomes {
		ids[i] = o.TaskID
	}
	n := &changelog.Note{Kind: changelog.Task}
	return d.inTxNote(ctx, n, func(tx *sqlx.Tx) error {
		if err := noteTasks(ctx, tx, n, ids); err != nil {
			return err
		}
		return withOverlays(ctx, tx, func() error { return d.completeTasksTx(ctx, tx, outcomes, done, now) })
	})
}

// noteTasks notes the channels, messages and records of the outbox's
// tasks ids.
func noteTasks(ctx context.Context, tx *sqlx.Tx, n *changelog.Note, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	in, args := inList(ids)
	rows, err := tx.QueryxContext(ctx, `SELECT cid, message_id, collection, record_id FROM pending_tasks WHERE task_id IN (`+in+`)`, args...)
	if err != nil {
		return fmt.Errorf("offlinedb: note tasks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cid, msg, coll, rid string
		if err := rows.Scan(&cid, &msg, &coll, &rid); err != nil {
			return fmt.Errorf("offlinedb: note tasks: %w", err)
		}
		n.Task(cid, msg, coll, rid)
	}
	return rows.Err()
}

// completeTasksTx is CompleteTasks inside its transaction.
func (d *DB) completeTasksTx(ctx context.Context, tx *sqlx.Tx, outcomes []TaskOutcome, done []string, now time.Time) error {
	var apply []Query
	var chained []chainedWrite
	for _, o := range outcomes {
		if o.Failed != nil || o.Result == nil {
			continue
		}
		var t PendingTask
		var payload string
		err := tx.QueryRowxContext(ctx, `SELECT type, cid, collection, record_id, payload FROM pending_tasks WHERE task_id = ?`, o.TaskID).
			Scan(&t.Type, &t.CID, &t.Collection, &t.RecordID, &payload)
		t.Payload = json.RawMessage(payload)
		if errors.Is(err, sql.ErrNoRows) {
			continue // gone already
		}
		if err != nil {
			return fmt.Errorf("offlinedb: complete task: %w", err)
		}
		t.ID = o.TaskID
		apply = append(apply, d.answerQueries(t, *o.Result)...)
		if t.RecordID != "" && o.Result.Record != nil {
			chained = append(chained, chainedWrite{done: t, after: o.Result.Record})
		}
	}
	if len(done) > 0 {
		in, args := inList(done)
		if _, err := tx.ExecContext(ctx, `DELETE FROM pending_tasks WHERE task_id IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("offlinedb: delete tasks: %w", err)
		}
	}
	for _, c := range chained {
		if err := rebaseChainedRecordWrites(ctx, tx, c.done, c.after); err != nil {
			return fmt.Errorf("offlinedb: rebase record writes: %w", err)
		}
	}
	if err := d.runFast(ctx, tx, apply); err != nil {
		return err
	}
	// Failures last: they mark only rows not yet sent, so applying the
	// answers first gives the same rows as going in order.
	for _, o := range outcomes {
		if o.Failed == nil {
			continue
		}
		if err := moveToFailedTx(ctx, tx, o.TaskID, o.Failed, now); err != nil && !errors.Is(err, ErrTaskNotFound) {
			return err
		}
	}
	return nil
}

// FailedTasks returns the tasks the server refused, oldest first, of a
// user (of every user when userID is empty).
func (d *DB) FailedTasks(ctx context.Context) ([]FailedTask, error) {
	userID, err := d.boundUser()
	if err != nil {
		return nil, err
	}
	var rows []struct {
		taskRow
		Error     string         `db:"error"`
		ErrorCode int            `db:"error_code"`
		Refusal   sql.NullString `db:"refusal"`
		FailedAt  int64          `db:"failed_at"`
	}
	err = d.db.SelectContext(ctx, &rows, `SELECT `+failedTaskCols+`, error, error_code, refusal, failed_at
FROM failed_tasks WHERE user_id = ? ORDER BY seq`, userID)
	if err != nil {
		return nil, fmt.Errorf("offlinedb: read failed tasks: %w", err)
	}
	out := make([]FailedTask, len(rows))
	for i, r := range rows {
		out[i] = FailedTask{PendingTask: r.task(), Error: r.Error, ErrorCode: r.ErrorCode,
			FailedAt: time.Unix(0, r.FailedAt).UTC()}
		if r.Refusal.Valid {
			var ae protocol.APIError
			if json.Unmarshal([]byte(r.Refusal.String), &ae) == nil {
				out[i].Refusal = &ae
			}
		}
	}
	return out, nil
}

// DismissFailed forgets a failed task (the app showed it and the user
// dismissed it). Its failed row, if any, is removed as well.
func (d *DB) DismissFailed(ctx context.Context, taskID string) error {
	if d.closed.Load() {
		return ErrClosed
	}
	n := &changelog.Note{Kind: changelog.Task}
	return d.inTxNote(ctx, n, func(tx *sqlx.Tx) error {
		tasks, err := selectTasks(ctx, tx, `SELECT `+failedTaskCols+` FROM failed_tasks WHERE task_id = ?`, taskID)
		if err != nil {
			return err
		}
		if len(tasks) == 0 {
			return fmt.Errorf("%w: %q", ErrTaskNotFound, taskID)
		}
		n.Task(tasks[0].CID, tasks[0].MessageID, tasks[0].Collection, tasks[0].RecordID)
		// The optimistic row the server refused goes with it.
		if dismiss := writeKinds[tasks[0].Type].dismiss; dismiss != nil {
			if err := dismiss(ctx, tx, tasks[0]); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM failed_tasks WHERE task_id = ?`, taskID)
		return err
	})
}

// TaskCounts returns how many tasks of a user (of every user when userID is
// empty) are pending and failed.
func (d *DB) TaskCounts(ctx context.Context) (pending, failed int, err error) {
	userID, err := d.boundUser()
	if err != nil {
		return 0, 0, err
	}
	err = d.db.QueryRowxContext(ctx, `SELECT
	(SELECT count(*) FROM pending_tasks WHERE user_id = ?1),
	(SELECT count(*) FROM failed_tasks WHERE user_id = ?1)`, userID).Scan(&pending, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("offlinedb: count tasks: %w", err)
	}
	return pending, failed, nil
}

// answerQueries returns the queries that store the server's answer to a
// task, so the optimistic row becomes the server's in the transaction that
// removes the task. The answer goes through the same version-guarded
// upserts as the write's event.
func (d *DB) answerQueries(t PendingTask, res protocol.BatchResult) []Query {
	ev := protocol.Event{ID: "answer " + t.ID, CID: t.CID, CreatedAt: d.now(),
		Message: res.Message, Reaction: res.Reaction, Read: res.Read, Record: res.Record}
	k, ok := writeKinds[t.Type]
	if !ok {
		return nil
	}
	k.answer(t, &ev)
	qs, err := d.queriesFor(&ev)
	if err != nil {
		// The server applied the write; its event brings the row up to
		// date even if its answer cannot be stored.
		d.log.Warn("offlinedb: server answer not stored", "task", t.ID, "error", err)
		return nil
	}
	return qs
}
