package offlinedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/changelog"
)

// LastSyncedAt returns the server time of the user's last complete sync.
// ok is false when the user has never synced (or the store was reset).
func (d *DB) LastSyncedAt(ctx context.Context, userID string) (t time.Time, ok bool, err error) {
	if d.closed.Load() {
		return time.Time{}, false, ErrClosed
	}
	var n int64
	err = d.db.GetContext(ctx, &n, `SELECT last_synced_at FROM user_sync_status WHERE user_id = ?`, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("offlinedb: last synced at: %w", err)
	}
	return time.Unix(0, n).UTC(), true, nil
}

// LastSyncedAtQuery returns the query that stores t, the server time of a
// complete sync, as the user's last sync time. It is not a position (those
// are per channel and per feed) and may move back: it is what the server
// said last, for display and the retention window.
func LastSyncedAtQuery(userID string, t time.Time) Query {
	return Query{
		SQL: `INSERT INTO user_sync_status (user_id, last_synced_at) VALUES (?1, ?2)
ON CONFLICT (user_id) DO UPDATE SET last_synced_at = excluded.last_synced_at`,
		Args: []any{userID, t.UnixNano()},
	}
}

// SetLastSyncedAt stores t, the server time of a complete sync, as
// the user's last sync time (see LastSyncedAtQuery).
func (d *DB) SetLastSyncedAt(ctx context.Context, userID string, t time.Time) error {
	if d.closed.Load() {
		return ErrClosed
	}
	q := LastSyncedAtQuery(userID, t)
	if _, err := d.db.ExecContext(ctx, q.SQL, q.Args...); err != nil {
		return fmt.Errorf("offlinedb: store checkpoint: %w", err)
	}
	return nil
}

// SetLocalUser records who uses this store. The identity survives ResetDB.
func (d *DB) SetLocalUser(ctx context.Context, userID string) error {
	if d.closed.Load() {
		return ErrClosed
	}
	_, err := d.db.ExecContext(ctx,
		`INSERT INTO local_user (user_id, added_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`,
		userID, d.now().UnixNano())
	if err != nil {
		return fmt.Errorf("offlinedb: set local user: %w", err)
	}
	return nil
}

// LocalUsers returns the users recorded with SetLocalUser, first one first.
func (d *DB) LocalUsers(ctx context.Context) ([]string, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	ids := []string{}
	if err := d.db.SelectContext(ctx, &ids, `SELECT user_id FROM local_user ORDER BY added_at, user_id`); err != nil {
		return nil, fmt.Errorf("offlinedb: local users: %w", err)
	}
	return ids, nil
}

// ResetDB clears the cached server data (channels, messages, reactions,
// members, reads, users, tombstones) and every sync position, in one
// transaction. It keeps the outbox and the failed list, the optimistic rows
// they own (messages and reactions not yet 'sent'), and the local user's
// identity: a reset never loses unsent work.
func (d *DB) ResetDB(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	err := d.inTxNote(ctx, &changelog.Note{Kind: changelog.Reset, Reset: true}, func(tx *sqlx.Tx) error {
		for _, q := range []string{
			`DELETE FROM messages WHERE status = 'sent'`,
			`DELETE FROM reactions WHERE status = 'sent'`,
			`DELETE FROM members`,
			`DELETE FROM reads`,
			`DELETE FROM channels`,
			`DELETE FROM users`,
			`DELETE FROM tombstones`,
			`DELETE FROM user_sync_status`,
			`DELETE FROM feed_position`,
			// The server versions of overlaid rows go too; the
			// overlaid rows and their pending writes stay.
			`DELETE FROM message_base`,
			`DELETE FROM reaction_base`,
			`DELETE FROM read_base`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("offlinedb: reset: %w", err)
	}
	return nil
}
