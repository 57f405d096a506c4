package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/changelog"
	"github.com/outpostsync/outpost/protocol"
)

// heldRow is a channel's position and held range as stored.
type heldRow struct {
	Epoch string `db:"epoch"`
	Seq   int64  `db:"last_seq"`
	From  int64  `db:"held_from"`
	Until int64  `db:"backfill_to"`
	Reset int    `db:"state_reset"` // resetNone, resetExact or resetReplace
	Stub  bool   `db:"stub"`
	Count int    `db:"messages"` // read only where asked for (heldCount)
}

// from is the lowest seq held: the range is empty, just past the
// position, when nothing older is held.
func (r heldRow) from() int64 {
	if r.From <= 0 {
		return r.Seq + 1
	}
	return r.From
}

// heldCols are the columns of a heldRow, of the channels table.
const heldCols = `epoch, last_seq, held_from, backfill_to, state_reset, stub`

// heldCount counts the sent messages of the held range of the channels
// row in scope.
const heldCount = `(SELECT count(*) FROM messages m WHERE m.cid = channels.cid AND m.status = 'sent'
	AND ` + placeExpr + ` >= channels.held_from)`

const heldSelect = `SELECT ` + heldCols + ` FROM channels`

func readHeld(ctx context.Context, q sqlx.QueryerContext, cid string) (heldRow, bool, error) {
	var r heldRow
	err := sqlx.GetContext(ctx, q, &r, heldSelect+` WHERE cid = ?`, cid)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

func (r heldRow) held(cid string) Held {
	if r.Epoch == "" || r.Stub {
		return Held{CID: cid}
	}
	return Held{CID: cid, Epoch: r.Epoch, From: r.from(), To: r.Seq, Until: r.Until, Messages: r.Count}
}

// HeldHistory returns the part of the channel cid's history the store
// holds. ErrNotFound if the store does not hold the channel.
func (d *DB) HeldHistory(ctx context.Context, cid string) (Held, error) {
	if d.closed.Load() {
		return Held{}, ErrClosed
	}
	var r heldRow
	err := d.db.GetContext(ctx, &r, `SELECT `+heldCols+`, `+heldCount+` AS messages FROM channels WHERE cid = ?`, cid)
	if errors.Is(err, sql.ErrNoRows) {
		return Held{}, fmt.Errorf("%w: channel %q", ErrNotFound, cid)
	}
	if err != nil {
		return Held{}, fmt.Errorf("offlinedb: held history: %w", err)
	}
	return r.held(cid), nil
}

// HistoryToFetch returns the channels whose held history is to be
// extended, in CID order: those whose rows from before a reset are still
// to be re-checked and those that do not hold their history from the
// start and hold fewer than keep messages; keep < 0 means any number.
func (d *DB) HistoryToFetch(ctx context.Context, keep int) ([]Held, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	var rows []struct {
		CID string `db:"cid"`
		heldRow
	}
	err := d.db.SelectContext(ctx, &rows, `SELECT * FROM (SELECT cid, `+heldCols+`, `+heldCount+` AS messages FROM channels
WHERE epoch <> '' AND stub = 0 AND state_reset = 0 AND held_from <> 1)
WHERE held_from > backfill_to AND backfill_to > 0 OR ?1 < 0 OR messages < ?1
ORDER BY cid`, keep)
	if err != nil {
		return nil, fmt.Errorf("offlinedb: history to fetch: %w", err)
	}
	out := make([]Held, len(rows))
	for i, r := range rows {
		out[i] = r.held(r.CID)
	}
	return out, nil
}

// How a channel the server reset takes its next state (channels.state_reset).
const (
	resetNone    = 0
	resetExact   = 1 // the log was pruned: the held rows are re-checked
	resetReplace = 2 // another history: the held rows are replaced
)

// markReset returns the query that marks a channel the server reset for
// reason (ChannelSync.Reason).
func markReset(cid, reason string) Query {
	how := resetReplace
	if reason == protocol.ReasonPruned {
		how = resetExact
	}
	return Query{SQL: markResetSQL, Args: []any{cid, how}}
}

// Queries of the held range.
const (
	// markResetSQL marks a channel the server reset (markReset).
	markResetSQL = `UPDATE channels SET state_reset = ?2 WHERE cid = ?1`
	// setStateSQL takes a state's position as is, with the held range
	// it brings.
	setStateSQL = `UPDATE channels SET epoch = ?2, last_seq = ?3, last_event_id = ?4, stub = 0,
	held_from = ?5, backfill_to = ?6, state_reset = 0 WHERE cid = ?1`
	// extendHeldSQL moves the start of a held range down to ?2; a
	// re-check it reaches is done.
	extendHeldSQL = `UPDATE channels SET held_from = ?2,
	backfill_to = CASE WHEN backfill_to >= ?2 THEN 0 ELSE backfill_to END
WHERE cid = ?1 AND held_from > ?2`
)

// The queries that make the sent messages of a channel with seqs ?2 to
// ?3 exactly those whose ids the JSON array ?4 lists, and the sent
// reactions to those exactly the ones whose keys (message, user and type
// joined by sep) the JSON array ?6 lists: the others were removed on the
// server (deleted, truncated, redacted, unreacted) by the position ?5,
// and leave a tombstone at it, so no older copy comes back. A reaction
// newer than ?5 (from an event applied after the page was read) stays.
// The place expression is the one messages_by_place indexes.
const (
	exactMessagesWhere = `cid = ?1 AND status = 'sent' AND ` + placeExpr + ` BETWEEN ?2 AND ?3
AND id NOT IN (SELECT value FROM json_each(?4))`
	exactReactionsWhere = `cid = ?1 AND status = 'sent' AND version <= ?5
AND message_id IN (SELECT value FROM json_each(?4))
AND message_id || char(31) || user_id || char(31) || type NOT IN (SELECT value FROM json_each(?6))`
)

var exactMessagesSQL = []string{
	`INSERT INTO tombstones (kind, key, version, cid) SELECT 'message', id, ?5, cid FROM messages WHERE ` + exactMessagesWhere + `
ON CONFLICT (kind, key) DO UPDATE SET version = max(tombstones.version, excluded.version)`,
	`DELETE FROM reactions WHERE status = 'sent' AND message_id IN (SELECT id FROM messages WHERE ` + exactMessagesWhere + `)`,
	`DELETE FROM messages WHERE ` + exactMessagesWhere,
	`INSERT INTO tombstones (kind, key, version, cid)
SELECT 'reaction', message_id || char(31) || user_id || char(31) || type, ?5, cid FROM reactions WHERE ` + exactReactionsWhere + `
ON CONFLICT (kind, key) DO UPDATE SET version = max(tombstones.version, excluded.version)`,
	`DELETE FROM reactions WHERE ` + exactReactionsWhere,
}

// exactMessages appends the queries that make the channel's held
// messages with seqs from to to exactly msgs, and their reactions exactly
// reactions, as of the position at.
func exactMessages(qs *[]Query, cid string, from, to, at int64, msgs []protocol.Message, reactions []protocol.Reaction, group string) {
	if to < from {
		return
	}
	ids := make([]string, len(msgs))
	for i := range msgs {
		ids[i] = msgs[i].ID
	}
	keys := make([]string, len(reactions))
	for i := range reactions {
		r := &reactions[i]
		keys[i] = r.MessageID + sep + r.UserID + sep + r.Type
	}
	list, _ := json.Marshal(ids) // strings always marshal
	keyList, _ := json.Marshal(keys)
	for _, q := range exactMessagesSQL {
		*qs = append(*qs, Query{SQL: q, Args: []any{cid, from, to, string(list), at, string(keyList)}, EventID: group})
	}
}

// exactMembersSQL drops the members and reads a state (?2: its members'
// user ids as a JSON array) does not list.
var exactMembersSQL = []string{
	`DELETE FROM members WHERE cid = ?1 AND user_id NOT IN (SELECT value FROM json_each(?2))`,
	`DELETE FROM reads WHERE cid = ?1 AND user_id NOT IN (SELECT value FROM json_each(?2))`,
}

// stateFrom is the lowest seq a state covers: its MessagesFrom, or, from
// a server that does not say, its oldest message's (every message from it
// to its position is there), or just past its position when it has none.
func stateFrom(st *protocol.ChannelResponse) int64 {
	from := st.Position.Seq + 1
	for i := range st.Messages {
		if s := st.Messages[i].Seq; s > 0 && s < from {
			from = s
		}
	}
	if st.MessagesFrom > 0 && st.MessagesFrom < from {
		from = st.MessagesFrom
	}
	return from
}

// ApplyChannelStates is the one way a channel's state (a sync's refill, a
// query, the answer to a channel admin call) enters the store. It drops
// the channels listed inaccessible and applies each state, in one
// transaction, as follows:
//
//   - A channel the store has no state of (new, announced by the feed), or
//     whose log the server re-created (another epoch), takes the state
//     whole, at its position.
//   - A channel the server reset because it lost the history the store
//     followed (ApplySyncPage; another epoch, a log behind or unlike the
//     store's) takes the state whole too: the versions of the two do not
//     compare.
//   - A channel whose position the server's retention pruned takes the
//     state exactly: its position, its members and reads, and its
//     messages within the state's range with their reactions, deleting
//     those the server no longer has. Messages held below that range
//     stay, to be re-checked (HistoryToFetch).
//   - Otherwise the state never moves the position and never drops a
//     row: its rows apply through the version guards and tombstones, as
//     events do, and its messages extend the held range downwards. A state
//     older than the store's position (read before events the store has
//     applied) brings no messages: what it holds of them is older.
//
// Pending and failed rows stay, and so does the user's hidden flag; a
// state whose Channel.Hidden is set hides the channel. A state without a
// position is refused.
func (d *DB) ApplyChannelStates(ctx context.Context, states []protocol.ChannelResponse, inaccessible []string) error {
	return d.applyChannelStates(ctx, states, inaccessible, false)
}

func (d *DB) applyChannelStates(ctx context.Context, states []protocol.ChannelResponse, inaccessible []string, fetchRecords bool) error {
	if d.closed.Load() {
		return ErrClosed
	}
	for i := range states {
		st := &states[i]
		if err := protocol.ValidateCID(st.Channel.CID); err != nil {
			return fmt.Errorf("offlinedb: channel state: %w", err)
		}
		if st.Position == nil || st.Position.Epoch == "" {
			return fmt.Errorf("offlinedb: channel state of %s has no position", st.Channel.CID)
		}
	}
	if len(states) == 0 && len(inaccessible) == 0 {
		return nil
	}
	note := func(n *changelog.Note) {
		n.Kind = changelog.Sync
		n.States(states, inaccessible)
	}
	_, err := d.applyBuilt(ctx, note, func(ctx context.Context, tx *sqlx.Tx) ([]Query, error) {
		var qs []Query
		for _, cid := range inaccessible {
			dropGoneChannel(&qs, cid)
		}
		for i := range states {
			q, err := stateApply(ctx, tx, &states[i])
			if err != nil {
				return nil, err
			}
			qs = append(qs, q...)
			if fetchRecords {
				recordFetchQueries(&qs, startRecordFetchSQL, states[i].Channel.CID)
			}
		}
		keep, err := keepHidden(ctx, tx, states)
		if err != nil {
			return nil, err
		}
		return append(qs, keep...), nil
	})
	if err != nil {
		return fmt.Errorf("offlinedb: apply channel states: %w", err)
	}
	return nil
}

// stateApply returns the queries that apply one state (see
// ApplyChannelStates). Its queries stand or fall together.
func stateApply(ctx context.Context, tx *sqlx.Tx, st *protocol.ChannelResponse) ([]Query, error) {
	cid := st.Channel.CID
	group := "state " + cid
	h, ok, err := readHeld(ctx, tx, cid)
	if err != nil {
		return nil, err
	}
	p := st.Position
	from := stateFrom(st)
	var qs []Query
	switch {
	case !ok || h.Stub || h.Epoch == "" || h.Epoch != p.Epoch || h.Reset == resetReplace:
		dropChannel(&qs, cid, group)
		qs = append(qs, stateQueries(st, group, true)...)
		qs = append(qs, Query{SQL: setStateSQL, Args: []any{cid, p.Epoch, p.Seq, p.EventID, from, 0}, EventID: group})
	case h.Reset == resetExact:
		users := make([]string, len(st.Members))
		for i := range st.Members {
			users[i] = st.Members[i].UserID
		}
		list, _ := json.Marshal(users)
		for _, q := range exactMembersSQL {
			qs = append(qs, Query{SQL: q, Args: []any{cid, string(list)}, EventID: group})
		}
		exactMessages(&qs, cid, from, p.Seq, p.Seq, st.Messages, st.Reactions, group)
		qs = append(qs, stateQueries(st, group, true)...)
		// The rows held below the state's range are re-checked next.
		until := h.Until
		if old := h.from(); old < from && (until == 0 || old < until) {
			until = old
		}
		qs = append(qs, Query{SQL: setStateSQL, Args: []any{cid, p.Epoch, p.Seq, p.EventID, from, until}, EventID: group})
	case p.Seq < h.Seq:
		qs = append(qs, stateQueries(st, group, false)...)
	default:
		qs = append(qs, stateQueries(st, group, true)...)
		qs = append(qs, Query{SQL: extendHeldSQL, Args: []any{cid, from}, EventID: group})
	}
	return qs, nil
}

// stateQueries stores a channel's state as the server read it, each row at
// its own version, through the same guarded upserts as events; its
// messages and their reactions only withMessages.
func stateQueries(st *protocol.ChannelResponse, group string, withMessages bool) []Query {
	cid := st.Channel.CID
	b := builder{ev: &protocol.Event{ID: group, CID: cid, CreatedAt: st.Channel.UpdatedAt}}
	b.channelRow(&st.Channel, cid, max(st.Channel.Version, 1))
	for i := range st.Members {
		m := &st.Members[i]
		b.tmpl(upsertMember, b.memberArgs(m, cid, max(m.Version, 1))...)
		if m.User != nil {
			b.userRow(m.User)
		}
	}
	if withMessages {
		b.messageRows(cid, st.Messages, st.Reactions)
	}
	for i := range st.Reads {
		r := &st.Reads[i]
		at := r.LastReadAt
		b.tmpl(upsertRead, cid, r.UserID, nanos(at), r.LastReadMessageID, r.UnreadMessages, max(r.Version, 1))
	}
	return b.qs
}

// messageRows adds the guarded upserts of a channel's messages and their
// reactions, as a state or a page of history holds them.
func (b *builder) messageRows(cid string, msgs []protocol.Message, reactions []protocol.Reaction) {
	for i := range msgs {
		m := &msgs[i]
		b.upsertMessageRow(m, cid, max(m.Version, 1), nanosPtr(m.DeletedAt))
	}
	for i := range reactions {
		r := &reactions[i]
		if r.MessageID == "" || r.UserID == "" || r.Type == "" {
			continue
		}
		b.tmpl(upsertReaction, r.MessageID, r.UserID, r.Type, cid, r.Score, nanos(r.CreatedAt),
			nanos(r.UpdatedAt), max(r.Version, 1), jsonArg(r.Extra))
	}
}

// HistoryResult says what applying a page of history did.
type HistoryResult struct {
	// Held is the channel's held history after the page (its Messages
	// not counted).
	Held Held
	// Stored is set when the page was joined to the held range; a page
	// that does not reach it (the range moved meanwhile) is not stored.
	Stored bool
	// NeedState is set when the channel's state must be fetched first:
	// the server reset it (another epoch), or the store has none yet.
	NeedState bool
	// Dropped is set when the store does not hold the channel (any
	// more): the user may not read it, and it was dropped.
	Dropped bool
}

// ApplyHistoryPage stores a page of the channel cid's message history
// (protocol.HistoryPage) in one transaction, when it reaches the held
// range (its To at most one below the range's From): its messages and
// their reactions become exactly the held ones of its range, those the
// server no longer has going, and the held range extends down to its
// From. Rows newer than the page (applied from events it was read before)
// are kept by the version guards and tombstones. A page that says the
// channel was reset marks it for its state; one that says it is
// inaccessible drops it.
func (d *DB) ApplyHistoryPage(ctx context.Context, cid string, page *protocol.HistoryPage) (HistoryResult, error) {
	if d.closed.Load() {
		return HistoryResult{}, ErrClosed
	}
	var res HistoryResult
	// What the engine tells its listeners (see engine.Manager.noteHistory).
	note := func(n *changelog.Note) {
		if res.Stored || res.Dropped {
			n.Kind = changelog.Sync
			n.History(cid, page)
		}
	}
	_, err := d.applyBuilt(ctx, note, func(ctx context.Context, tx *sqlx.Tx) ([]Query, error) {
		res = HistoryResult{}
		h, ok, err := readHeld(ctx, tx, cid)
		if err != nil {
			return nil, err
		}
		var qs []Query
		switch {
		case !ok:
			res.Dropped = true
		case page.Status == protocol.ChannelInaccessible:
			dropGoneChannel(&qs, cid)
			res.Dropped = true
		case h.Epoch == "" || h.Stub || h.Reset != resetNone:
			res.NeedState = true
		case page.Status != protocol.ChannelOK || page.Position == nil || page.Position.Epoch != h.Epoch:
			qs = append(qs, markReset(cid, protocol.ReasonEpoch))
			res.NeedState = true
		case page.Kind != protocol.HistoryMessages || page.To < h.from()-1 || page.From < 1:
			// Not joined to the held range: left for a later ask.
		default:
			group := "history " + cid
			exactMessages(&qs, cid, page.From, page.To, page.Position.Seq, page.Messages, page.Reactions, group)
			b := builder{ev: &protocol.Event{ID: group, CID: cid}}
			b.messageRows(cid, page.Messages, page.Reactions)
			qs = append(qs, b.qs...)
			qs = append(qs, Query{SQL: extendHeldSQL, Args: []any{cid, page.From}, EventID: group})
			res.Stored = true
		}
		return qs, nil
	})
	if err != nil {
		return HistoryResult{}, fmt.Errorf("offlinedb: apply history page: %w", err)
	}
	if res.Dropped {
		res.Held = Held{CID: cid}
		return res, nil
	}
	r, ok, err := readHeld(ctx, d.db, cid)
	if err != nil {
		return res, fmt.Errorf("offlinedb: apply history page: %w", err)
	}
	res.Held, res.Dropped = r.held(cid), !ok
	return res, nil
}
