package store

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
func (d *DB) LastSyncedAt(ctx context.Context) (t time.Time, ok bool, err error) {
	userID, err := d.boundUser()
	if err != nil {
		return time.Time{}, false, err
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

// lastSyncedAtQuery returns the query that stores t, the server time of a
// complete sync, as the user's last sync time. It is not a position (those
// are per channel and per feed) and may move back: it is what the server
// said last, for display and the retention window.
func lastSyncedAtQuery(userID string, t time.Time) Query {
	return Query{
		SQL: `INSERT INTO user_sync_status (user_id, last_synced_at) VALUES (?1, ?2)
ON CONFLICT (user_id) DO UPDATE SET last_synced_at = excluded.last_synced_at`,
		Args: []any{userID, t.UnixNano()},
	}
}

// SetLastSyncedAt stores t, the server time of a complete sync, as
// the user's last sync time (see lastSyncedAtQuery).
func (d *DB) SetLastSyncedAt(ctx context.Context, t time.Time) error {
	userID, err := d.boundUser()
	if err != nil {
		return err
	}
	q := lastSyncedAtQuery(userID, t)
	done, err := d.turnToWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := d.db.ExecContext(ctx, q.SQL, q.Args...); err != nil {
		return fmt.Errorf("offlinedb: store checkpoint: %w", err)
	}
	return nil
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
			`DELETE FROM records WHERE (cid, collection, id) NOT IN (SELECT cid, collection, id FROM record_overlays)`,
			`DELETE FROM record_base`,
			`DELETE FROM record_fetch_seen`,
			`DELETE FROM record_fetches`,
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
