package offlinedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/changelog"
)

// ErrIdentityMismatch is matched (errors.Is) by *IdentityError.
var ErrIdentityMismatch = errors.New("offlinedb: store bound to another identity")

// IdentityError is returned by Bind when the store holds the data of
// another user or server than the one asked for.
type IdentityError struct {
	// Field is "user" or "server".
	Field string
	// Stored is the store's user or server; Want the one asked for.
	Stored, Want string
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("offlinedb: the store holds the data of %s %q, not %q", e.Field, e.Stored, e.Want)
}

// Is makes errors.Is(err, ErrIdentityMismatch) true.
func (e *IdentityError) Is(target error) bool { return target == ErrIdentityMismatch }

// NormalizeServerURL returns the form of a server URL a store records: the
// scheme and host lower-cased, no trailing slash, no query or fragment.
func NormalizeServerURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.TrimRight(strings.TrimSpace(raw), "/")
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// Identity returns the user and server the store is bound to; ok is false
// for a store not bound yet.
func (d *DB) Identity(ctx context.Context) (userID, serverURL string, ok bool, err error) {
	if d.closed.Load() {
		return "", "", false, ErrClosed
	}
	err = d.db.QueryRowxContext(ctx, `SELECT user_id, server_url FROM store_identity WHERE id = 1`).Scan(&userID, &serverURL)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("offlinedb: identity: %w", err)
	}
	return userID, serverURL, true, nil
}

// Bind binds the store to a user and a server, or checks that it is bound
// to them. The first Bind records them (a store made before identities
// were recorded takes its recorded local user into account); a later one
// for another user, or for another server once the store holds data of
// its own server (a store that never synced follows the new URL), returns
// an *IdentityError, or, with replace
// set, wipes the store first (see Wipe) and binds it afresh: the other
// user's outbox is deleted, never sent under the new identity. An empty
// serverURL checks the user only.
func (d *DB) Bind(ctx context.Context, userID, serverURL string, replace bool) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if userID == "" {
		return errors.New("offlinedb: Bind needs a user id")
	}
	serverURL = NormalizeServerURL(serverURL)
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		var user, server string
		err := tx.QueryRowxContext(ctx, `SELECT user_id, server_url FROM store_identity WHERE id = 1`).Scan(&user, &server)
		bound := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("offlinedb: identity: %w", err)
		}
		var mismatch *IdentityError
		switch {
		case bound && user != userID:
			mismatch = &IdentityError{Field: "user", Stored: user, Want: userID}
		case bound && serverURL != "" && server != "" && server != serverURL:
			// A store that never synced holds nothing of its server
			// (only the user's own writes): it moves to the new one.
			var synced bool
			if err := tx.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM feed_position)
	OR EXISTS (SELECT 1 FROM user_sync_status) OR EXISTS (SELECT 1 FROM channels)`).Scan(&synced); err != nil {
				return err
			}
			if synced {
				mismatch = &IdentityError{Field: "server", Stored: server, Want: serverURL}
			} else {
				server = ""
			}
		case !bound:
			var others []string
			if err := tx.SelectContext(ctx, &others, `SELECT user_id FROM local_user WHERE user_id <> ? ORDER BY added_at`, userID); err != nil {
				return err
			}
			if len(others) > 0 {
				mismatch = &IdentityError{Field: "user", Stored: others[0], Want: userID}
			}
		}
		if mismatch != nil {
			if !replace {
				return mismatch
			}
			d.log.Warn("offlinedb: wiping the store for another identity", "field", mismatch.Field,
				"stored", mismatch.Stored, "want", mismatch.Want)
			if err := wipeTx(ctx, tx); err != nil {
				return err
			}
			bound, server = false, ""
		}
		if bound && (server != "" || serverURL == "") {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO store_identity (id, user_id, server_url, bound_at) VALUES (1, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET server_url = excluded.server_url`, userID, serverURL, d.now().UnixNano()); err != nil {
			return fmt.Errorf("offlinedb: bind: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO local_user (user_id, added_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`,
			userID, d.now().UnixNano())
		return err
	})
}

// Wipe deletes everything the store holds, the outbox, the failed list
// and its identity included, in one transaction.
func (d *DB) Wipe(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	return d.inTxNote(ctx, &changelog.Note{Kind: changelog.Reset, Reset: true}, func(tx *sqlx.Tx) error { return wipeTx(ctx, tx) })
}

func wipeTx(ctx context.Context, tx *sqlx.Tx) error {
	for _, table := range []string{"messages", "reactions", "members", "reads", "channels", "users", "tombstones",
		"pending_tasks", "failed_tasks", "user_sync_status", "local_user", "feed_position", "store_identity",
		"message_overlays", "reaction_overlays", "message_base", "reaction_base"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return fmt.Errorf("offlinedb: wipe %s: %w", table, err)
		}
	}
	return nil
}
