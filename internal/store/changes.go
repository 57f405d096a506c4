package store

import (
	"context"
	"fmt"

	"github.com/outpostsync/outpost/internal/changelog"
)

// The change log lets every process on a store hear the changes the
// others make: each write transaction the app hears about (writes queued,
// the server's answers, sync pages, live events, resets) appends a row
// saying what it changed, in the same transaction (see
// internal/changelog). A process notices new rows cheaply with
// DataVersion and reads them with ChangesSince.

// Origin returns the id this open store writes in its change log rows, so
// that a reader can tell its own changes from other processes'.
func (d *DB) Origin() string { return d.origin }

// DataVersion returns SQLite's data_version as one connection of this
// store sees it: it changes when another connection (of this process or
// another) commits a change to the file, so a poller reads the change log
// only when there may be something new.
func (d *DB) DataVersion(ctx context.Context) (int64, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	d.watchMu.Lock()
	defer d.watchMu.Unlock()
	if d.watch == nil {
		c, err := d.db.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("offlinedb: data version: %w", err)
		}
		d.watch = c
	}
	var v int64
	if err := d.watch.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("offlinedb: data version: %w", err)
	}
	return v, nil
}

// LastChange returns the id of the newest change log row, where a reader
// that wants only what comes next starts.
func (d *DB) LastChange(ctx context.Context) (int64, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	return changelog.Last(ctx, d.db)
}

// ChangesSince returns up to limit change log rows after the row id
// after, oldest first. lost is set when rows after it were pruned unread
// (the log keeps its newest changelog.Keep rows): the reader must reread
// everything.
func (d *DB) ChangesSince(ctx context.Context, after int64, limit int) (changes []changelog.Entry, lost bool, err error) {
	if d.closed.Load() {
		return nil, false, ErrClosed
	}
	return changelog.Since(ctx, d.db, after, limit)
}

// closeWatch closes the connection DataVersion keeps.
func (d *DB) closeWatch() {
	d.watchMu.Lock()
	defer d.watchMu.Unlock()
	if d.watch != nil {
		d.watch.Close()
		d.watch = nil
	}
}
