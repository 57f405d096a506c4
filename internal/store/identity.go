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

// Identity returns the user the store is bound to; ok is false for a
// store not bound yet.
func (d *DB) Identity(ctx context.Context) (userID string, ok bool, err error) {
	if d.closed.Load() {
		return "", false, ErrClosed
	}
	err = d.db.QueryRowxContext(ctx, `SELECT user_id FROM store_identity WHERE id = 1`).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("offlinedb: identity: %w", err)
	}
	return userID, true, nil
}

// Bind binds the store to a user, or checks that it is bound to them. The
// first Bind records the user (a store made before identities were
// recorded takes its recorded local user into account); a later one for
// another user returns an *IdentityError, or, with replace set, wipes the
// store first (see Wipe) and binds it afresh: the other user's outbox is
// deleted, never sent under the new identity. The server a store is bound
// to is learnt from the server itself (see MeetServer).
func (d *DB) Bind(ctx context.Context, userID string, replace bool) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if userID == "" {
		return errors.New("offlinedb: Bind needs a user id")
	}
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		var user string
		err := tx.QueryRowxContext(ctx, `SELECT user_id FROM store_identity WHERE id = 1`).Scan(&user)
		bound := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("offlinedb: identity: %w", err)
		}
		var mismatch *IdentityError
		switch {
		case bound && user != userID:
			mismatch = &IdentityError{Field: "user", Stored: user, Want: userID}
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
			d.log.Warn("offlinedb: wiping the store for another user", "stored", mismatch.Stored, "want", mismatch.Want)
			if err := wipeTx(ctx, tx); err != nil {
				return err
			}
			bound = false
		}
		if bound {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO store_identity (id, user_id, server_url, bound_at) VALUES (1, ?, '', ?)`,
			userID, d.now().UnixNano()); err != nil {
			return fmt.Errorf("offlinedb: bind: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO local_user (user_id, added_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`,
			userID, d.now().UnixNano())
		return err
	})
	if err != nil {
		return err
	}
	d.user.Store(&userID)
	return nil
}

// ErrNotBound is returned by the methods that read or write the bound
// user's data (the outbox, the sync positions) on a store no Bind has bound
// yet.
var ErrNotBound = errors.New("offlinedb: store not bound to a user")

// boundUser returns the user the store is bound to, ErrClosed or
// ErrNotBound.
func (d *DB) boundUser() (string, error) {
	if d.closed.Load() {
		return "", ErrClosed
	}
	u := d.user.Load()
	if u == nil {
		return "", ErrNotBound
	}
	return *u, nil
}

// ServerBinding is the server a store is bound to, and what that server
// last said of itself.
type ServerBinding struct {
	// ServerID is the id of the server the store is bound to; "" while
	// it is not bound (see MeetServer).
	ServerID string
	// Hello is the last hello the store met, from its own server (or,
	// while not bound, from the server it syncs with); its zero value
	// before the first.
	Hello protocol.Hello
}

// ServerBinding returns the server the store is bound to and the last
// hello it met, as stored: an offline start knows them.
func (d *DB) ServerBinding(ctx context.Context) (ServerBinding, error) {
	if d.closed.Load() {
		return ServerBinding{}, ErrClosed
	}
	var b ServerBinding
	var hello string
	err := d.db.QueryRowxContext(ctx, `SELECT server_id, hello FROM server_binding WHERE id = 1`).Scan(&b.ServerID, &hello)
	if errors.Is(err, sql.ErrNoRows) {
		return ServerBinding{}, nil
	}
	if err == nil {
		err = json.Unmarshal([]byte(hello), &b.Hello)
	}
	if err != nil {
		return ServerBinding{}, fmt.Errorf("offlinedb: server binding: %w", err)
	}
	return b, nil
}

// MeetServer records a hello from the server the store syncs with and
// returns the server the store is bound to then. A store bound to another
// server gets an *IdentityError (Field "server") and records nothing. A
// store not bound yet is bound to h's server when it holds nothing of any
// server (it never synced, or was reset since); one that does (it synced
// before stores were bound by id) stays unbound until AdoptServer.
func (d *DB) MeetServer(ctx context.Context, h protocol.Hello) (bound string, err error) {
	return d.bindServer(ctx, h, false)
}

// AdoptServer binds a store not bound yet to the server of h, whatever it
// holds: the sync manager calls it after a sync with that server that
// needed no reset of any kind, which proves the store's data is that
// server's. A store bound to another server gets an *IdentityError.
func (d *DB) AdoptServer(ctx context.Context, h protocol.Hello) (bound string, err error) {
	return d.bindServer(ctx, h, true)
}

func (d *DB) bindServer(ctx context.Context, h protocol.Hello, adopt bool) (bound string, err error) {
	if d.closed.Load() {
		return "", ErrClosed
	}
	if err := h.Validate(); err != nil {
		return "", err
	}
	hello, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	err = d.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.QueryRowxContext(ctx, `SELECT server_id FROM server_binding WHERE id = 1`).Scan(&bound)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("offlinedb: server binding: %w", err)
		}
		if bound != "" && bound != h.ServerID {
			return &IdentityError{Field: "server", Stored: bound, Want: h.ServerID}
		}
		if bound == "" && !adopt {
			// A store that holds nothing of any server may be bound.
			var synced bool
			if err := tx.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM feed_position)
	OR EXISTS (SELECT 1 FROM user_sync_status) OR EXISTS (SELECT 1 FROM channels)`).Scan(&synced); err != nil {
				return err
			}
			adopt = !synced
		}
		if bound == "" && adopt {
			bound = h.ServerID
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO server_binding (id, server_id, hello, met_at) VALUES (1, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET server_id = excluded.server_id, hello = excluded.hello, met_at = excluded.met_at`,
			bound, string(hello), d.now().UnixNano())
		return err
	})
	if err != nil {
		return "", err
	}
	return bound, nil
}

// Wipe deletes everything the store holds, the outbox, the failed list
// and its identity included, in one transaction.
func (d *DB) Wipe(ctx context.Context) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if err := d.inTxNote(ctx, &changelog.Note{Kind: changelog.Reset, Reset: true}, func(tx *sqlx.Tx) error { return wipeTx(ctx, tx) }); err != nil {
		return err
	}
	d.user.Store(nil)
	return nil
}

func wipeTx(ctx context.Context, tx *sqlx.Tx) error {
	for _, table := range []string{"messages", "reactions", "members", "reads", "channels", "users", "tombstones",
		"pending_tasks", "failed_tasks", "user_sync_status", "local_user", "feed_position", "store_identity", "server_binding",
		"message_overlays", "reaction_overlays", "message_base", "reaction_base",
		"read_overlays", "read_base", "records", "record_overlays", "record_base"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return fmt.Errorf("offlinedb: wipe %s: %w", table, err)
		}
	}
	return nil
}
