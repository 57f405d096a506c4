package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/outpostsync/outpost/protocol"
)

type channelRow struct {
	CID           string         `db:"cid"`
	Type          string         `db:"type"`
	ID            string         `db:"id"`
	Name          string         `db:"name"`
	CreatedBy     string         `db:"created_by"`
	CreatedAt     sql.NullInt64  `db:"created_at"`
	UpdatedAt     sql.NullInt64  `db:"updated_at"`
	DeletedAt     sql.NullInt64  `db:"deleted_at"`
	TruncatedAt   sql.NullInt64  `db:"truncated_at"`
	LastMessageAt sql.NullInt64  `db:"last_message_at"`
	MemberCount   int            `db:"member_count"`
	Hidden        bool           `db:"hidden"`
	Version       int64          `db:"version"`
	LastSeq       int64          `db:"last_seq"`
	HeldFrom      int64          `db:"held_from"`
	Extra         sql.NullString `db:"extra"`
}

func (r channelRow) channel() Channel {
	return Channel{Channel: protocol.Channel{
		CID: r.CID, Type: r.Type, ID: r.ID, Name: r.Name, CreatedBy: r.CreatedBy,
		CreatedAt: fromNanos(r.CreatedAt), UpdatedAt: fromNanos(r.UpdatedAt),
		DeletedAt: fromNanosPtr(r.DeletedAt), TruncatedAt: fromNanosPtr(r.TruncatedAt),
		LastMessageAt: fromNanosPtr(r.LastMessageAt), MemberCount: r.MemberCount,
		Hidden: r.Hidden, Version: r.Version, Extra: fromJSON(r.Extra),
	}, LastSeq: r.LastSeq, HistoryComplete: r.HeldFrom == 1}
}

const channelSelect = `SELECT cid, type, id, name, created_by, created_at, updated_at, deleted_at, truncated_at,
	last_message_at, member_count, hidden, version, last_seq, held_from, extra FROM channels`

// Channels returns the channels in the store, most recent activity first
// (the last message's time, else the channel's update or creation time),
// then by cid. To page, pass the Cursor of a page's last channel as the
// next query's After: a channel is listed once however the pages are cut,
// unless its activity moves while the app pages (then it may appear again,
// or be missed; an OnChange listener hears of it).
func (d *DB) Channels(ctx context.Context, q ChannelsQuery) ([]Channel, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var afterKey int64
	var afterCID string
	if q.After != "" {
		k, cid, ok := strings.Cut(q.After, ":")
		n, err := strconv.ParseInt(k, 10, 64)
		if !ok || err != nil || cid == "" {
			return nil, fmt.Errorf("%w: channels cursor %q", ErrInvalidCursor, q.After)
		}
		afterKey, afterCID = n, cid
	}
	args := []any{q.IncludeHidden, afterKey, afterCID, q.Limit}
	types := ""
	if len(q.Types) > 0 {
		in := make([]string, len(q.Types))
		for i, t := range q.Types {
			args = append(args, t)
			in[i] = "?" + strconv.Itoa(len(args))
		}
		types = " AND type IN (" + strings.Join(in, ", ") + ")"
	}
	return selectRows(ctx, d, "channels", channelRow.channel, channelSelect+`
WHERE deleted_at IS NULL AND stub = 0 AND (?1 OR hidden = 0)`+types+`
  AND (?3 = '' OR `+activityKey+` < ?2 OR (`+activityKey+` = ?2 AND cid > ?3))
ORDER BY `+activityKey+` DESC, cid
LIMIT ?4`, args...)
}

// activityKey is what Channels orders by.
const activityKey = `coalesce(last_message_at, updated_at, created_at, 0)`

// Channel returns one channel, or ErrNotFound.
func (d *DB) Channel(ctx context.Context, cid string) (Channel, error) {
	if d.closed.Load() {
		return Channel{}, ErrClosed
	}
	return getRow(ctx, d, "channel", cid, channelRow.channel, channelSelect+` WHERE cid = ? AND stub = 0`, cid)
}

type messageRow struct {
	ID             string         `db:"id"`
	CID            string         `db:"cid"`
	UserID         string         `db:"user_id"`
	Text           string         `db:"text"`
	ParentID       string         `db:"parent_id"`
	CreatedAt      int64          `db:"created_at"`
	UpdatedAt      sql.NullInt64  `db:"updated_at"`
	DeletedAt      sql.NullInt64  `db:"deleted_at"`
	ReactionCounts sql.NullString `db:"reaction_counts"`
	Version        int64          `db:"version"`
	Seq            int64          `db:"seq"`
	Extra          sql.NullString `db:"extra"`
	Status         string         `db:"status"`
	Error          sql.NullString `db:"error"`
}

func (r messageRow) message() Message {
	return Message{Message: protocol.Message{
		ID: r.ID, CID: r.CID, UserID: r.UserID, Text: r.Text, ParentID: r.ParentID,
		CreatedAt: fromNanos(sql.NullInt64{Int64: r.CreatedAt, Valid: true}), UpdatedAt: fromNanos(r.UpdatedAt),
		DeletedAt: fromNanosPtr(r.DeletedAt), ReactionCounts: fromCounts(r.ReactionCounts),
		Version: r.Version, Seq: r.Seq, Extra: fromJSON(r.Extra),
	}, Status: MessageStatus(r.Status), Error: r.Error.String}
}

const messageSelect = `SELECT id, cid, user_id, text, parent_id, created_at, updated_at, deleted_at, reaction_counts,
	version, seq, extra, status, error FROM messages`

// placeExpr is a message's place in its channel's order: the seq of its
// message.new event, or, for a message the server has not stored yet,
// after every stored one.
const placeExpr = `(CASE WHEN seq = 0 THEN 9223372036854775807 ELSE seq END)`

// Messages returns a page of a channel's messages in the channel's order
// (the server's, by seq; unsent messages last), oldest first: the
// latest Limit messages before q.Before (or the latest of all), or the
// first Limit after q.After. A cursor id the store does not hold gives
// ErrNotFound.
func (d *DB) Messages(ctx context.Context, cid string, q MessagesQuery) ([]Message, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	// A message's place: (seq, created_at, id), with messages the server
	// has not stored yet (seq 0) after the others. The expression is the
	// one messages_by_place indexes.
	type place struct {
		Seq int64  `db:"place"`
		At  int64  `db:"created_at"`
		ID  string `db:"id"`
	}
	cursor := func(id string) (place, error) {
		var p place
		err := d.db.GetContext(ctx, &p, `SELECT `+placeExpr+` AS place, created_at, id FROM messages WHERE id = ? AND cid = ?`, id, cid)
		if errors.Is(err, sql.ErrNoRows) {
			return p, fmt.Errorf("%w: cursor message %q", ErrNotFound, id)
		}
		return p, err
	}
	var out []Message
	var err error
	switch {
	case q.After != "":
		var p place
		if p, err = cursor(q.After); err != nil {
			return nil, err
		}
		out, err = selectRows(ctx, d, "messages", messageRow.message, messageSelect+`
WHERE cid = ?1 AND (?5 OR deleted_at IS NULL) AND (`+placeExpr+`, created_at, id) > (?2, ?3, ?4)
ORDER BY `+placeExpr+`, created_at, id LIMIT ?6`, cid, p.Seq, p.At, p.ID, q.IncludeDeleted, q.Limit)
	case q.Before != "":
		var p place
		if p, err = cursor(q.Before); err != nil {
			return nil, err
		}
		out, err = selectRows(ctx, d, "messages", messageRow.message, messageSelect+`
WHERE cid = ?1 AND (?5 OR deleted_at IS NULL) AND (`+placeExpr+`, created_at, id) < (?2, ?3, ?4)
ORDER BY `+placeExpr+` DESC, created_at DESC, id DESC LIMIT ?6`, cid, p.Seq, p.At, p.ID, q.IncludeDeleted, q.Limit)
	case q.Oldest:
		out, err = selectRows(ctx, d, "messages", messageRow.message, messageSelect+`
WHERE cid = ?1 AND (?2 OR deleted_at IS NULL)
ORDER BY `+placeExpr+`, created_at, id LIMIT ?3`, cid, q.IncludeDeleted, q.Limit)
	default:
		out, err = selectRows(ctx, d, "messages", messageRow.message, messageSelect+`
WHERE cid = ?1 AND (?2 OR deleted_at IS NULL)
ORDER BY `+placeExpr+` DESC, created_at DESC, id DESC LIMIT ?3`, cid, q.IncludeDeleted, q.Limit)
	}
	if err != nil {
		return nil, err
	}
	if q.After == "" && (q.Before != "" || !q.Oldest) {
		slices.Reverse(out) // read newest first, returned oldest first
	}
	return out, nil
}

// Message returns one message, or ErrNotFound.
func (d *DB) Message(ctx context.Context, id string) (Message, error) {
	if d.closed.Load() {
		return Message{}, ErrClosed
	}
	return getRow(ctx, d, "message", id, messageRow.message, messageSelect+` WHERE id = ?`, id)
}

// UnsentMessages returns the messages still pending or failed, of one
// channel or of all when cid is empty, oldest first.
func (d *DB) UnsentMessages(ctx context.Context, cid string) ([]Message, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	return selectRows(ctx, d, "unsent messages", messageRow.message, messageSelect+`
WHERE status <> 'sent' AND (?1 = '' OR cid = ?1) ORDER BY created_at, id`, cid)
}

// Reactions returns the reactions to a message, oldest first.
func (d *DB) Reactions(ctx context.Context, messageID string) ([]Reaction, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	type row struct {
		MessageID string         `db:"message_id"`
		UserID    string         `db:"user_id"`
		Type      string         `db:"type"`
		CID       string         `db:"cid"`
		Score     int            `db:"score"`
		CreatedAt sql.NullInt64  `db:"created_at"`
		UpdatedAt sql.NullInt64  `db:"updated_at"`
		Version   int64          `db:"version"`
		Extra     sql.NullString `db:"extra"`
		Status    string         `db:"status"`
		Error     sql.NullString `db:"error"`
	}
	return selectRows(ctx, d, "reactions", func(r row) Reaction {
		return Reaction{Reaction: protocol.Reaction{
			MessageID: r.MessageID, UserID: r.UserID, Type: r.Type, CID: r.CID, Score: r.Score,
			CreatedAt: fromNanos(r.CreatedAt), UpdatedAt: fromNanos(r.UpdatedAt), Version: r.Version, Extra: fromJSON(r.Extra),
		}, Status: MessageStatus(r.Status), Error: r.Error.String}
	}, `SELECT message_id, user_id, type, cid, score, created_at, updated_at,
	version, extra, status, error FROM reactions WHERE message_id = ? ORDER BY created_at, user_id, type`, messageID)
}

// Members returns a channel's members, with their user rows when known.
func (d *DB) Members(ctx context.Context, cid string) ([]protocol.Member, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	type row struct {
		CID       string         `db:"cid"`
		UserID    string         `db:"user_id"`
		Role      string         `db:"role"`
		CreatedAt sql.NullInt64  `db:"created_at"`
		UpdatedAt sql.NullInt64  `db:"updated_at"`
		Version   int64          `db:"version"`
		Name      sql.NullString `db:"name"`
		Image     sql.NullString `db:"image"`
	}
	return selectRows(ctx, d, "members", func(r row) protocol.Member {
		m := protocol.Member{CID: r.CID, UserID: r.UserID, Role: r.Role, CreatedAt: fromNanos(r.CreatedAt),
			UpdatedAt: fromNanos(r.UpdatedAt), Version: r.Version}
		if r.Name.Valid {
			m.User = &protocol.User{ID: r.UserID, Name: r.Name.String, Image: r.Image.String}
		}
		return m
	}, `SELECT m.cid, m.user_id, m.role, m.created_at, m.updated_at, m.version,
	u.name, u.image FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE m.cid = ? ORDER BY m.created_at, m.user_id`, cid)
}

// Reads returns how far each member has read a channel.
func (d *DB) Reads(ctx context.Context, cid string) ([]protocol.Read, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	type row struct {
		CID         string        `db:"cid"`
		UserID      string        `db:"user_id"`
		LastReadAt  sql.NullInt64 `db:"last_read_at"`
		LastReadMsg string        `db:"last_read_message_id"`
		Unread      int           `db:"unread_messages"`
		Version     int64         `db:"version"`
	}
	return selectRows(ctx, d, "reads", func(r row) protocol.Read {
		return protocol.Read{CID: r.CID, UserID: r.UserID, LastReadAt: fromNanos(r.LastReadAt),
			LastReadMessageID: r.LastReadMsg, UnreadMessages: r.Unread, Version: r.Version}
	}, `SELECT cid, user_id, last_read_at, last_read_message_id, unread_messages, version
FROM reads WHERE cid = ? ORDER BY user_id`, cid)
}

// UnreadCount counts a channel's messages that userID has not read: those
// by others, not deleted, after the user's last read time (all of them if
// the user has no read mark).
func (d *DB) UnreadCount(ctx context.Context, cid string) (int, error) {
	userID, err := d.boundUser()
	if err != nil {
		return 0, err
	}
	var n int
	err = d.db.GetContext(ctx, &n, `SELECT count(*) FROM messages m
WHERE m.cid = ?1 AND m.user_id <> ?2 AND m.deleted_at IS NULL
AND m.created_at > coalesce((SELECT last_read_at FROM reads WHERE cid = ?1 AND user_id = ?2), 0)`, cid, userID)
	if err != nil {
		return 0, fmt.Errorf("offlinedb: unread count: %w", err)
	}
	return n, nil
}

// User returns a user row, or ErrNotFound.
func (d *DB) User(ctx context.Context, id string) (protocol.User, error) {
	if d.closed.Load() {
		return protocol.User{}, ErrClosed
	}
	type row struct {
		ID        string         `db:"id"`
		Name      string         `db:"name"`
		Image     string         `db:"image"`
		CreatedAt sql.NullInt64  `db:"created_at"`
		UpdatedAt sql.NullInt64  `db:"updated_at"`
		Version   int64          `db:"version"`
		Extra     sql.NullString `db:"extra"`
	}
	return getRow(ctx, d, "user", id, func(r row) protocol.User {
		return protocol.User{ID: r.ID, Name: r.Name, Image: r.Image, CreatedAt: fromNanos(r.CreatedAt),
			UpdatedAt: fromNanos(r.UpdatedAt), Version: r.Version, Extra: fromJSON(r.Extra)}
	}, `SELECT id, name, image, created_at, updated_at, version, extra FROM users WHERE id = ?`, id)
}

// selectRows runs query, scans each row into an R and returns the rows
// made into Ts by conv. An error names what was read.
func selectRows[R, T any](ctx context.Context, d *DB, what string, conv func(R) T, query string, args ...any) ([]T, error) {
	var rows []R
	if err := d.db.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("offlinedb: %s: %w", what, err)
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = conv(r)
	}
	return out, nil
}

// getRow runs query for the one row of the what called key, scans it into
// an R and returns it made into a T by conv; no row is ErrNotFound.
func getRow[R, T any](ctx context.Context, d *DB, what, key string, conv func(R) T, query string, args ...any) (T, error) {
	var r R
	var zero T
	err := d.db.GetContext(ctx, &r, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return zero, fmt.Errorf("%w: %s %q", ErrNotFound, what, key)
	}
	if err != nil {
		return zero, fmt.Errorf("offlinedb: %s: %w", what, err)
	}
	return conv(r), nil
}
