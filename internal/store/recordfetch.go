package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/changelog"
	"github.com/outpostsync/outpost/protocol"
)

// A channel's records are all held. When a sync fetches a channel's state
// (a channel joined, or one whose log the server reset), its records are
// fetched whole after it, page by page (0011_record_fetches.sql): the
// state's transaction records the fetch (ApplySyncStates), each page's
// transaction stores its records and where the fetch got to
// (ApplyRecordsPage), so a restart goes on from there (RecordFetches), and
// the last page's transaction turns the records the server no longer has
// into tombstones. Pages are read at later snapshots than the state, and
// the sync from the state's position applies every change after it, each
// under the version guard.

// RecordFetch is a channel whose records are being fetched whole: the
// next page to ask for is the one after After (collection/id; "" for the
// first).
type RecordFetch struct {
	CID   string
	After string
}

// startRecordFetchSQL records a fetch of a channel's records from its
// first page, marked to sweep when the channel holds live records.
var startRecordFetchSQL = []string{
	`DELETE FROM record_fetch_seen WHERE cid = ?1`,
	`INSERT INTO record_fetches (cid, after, upto, sweep)
VALUES (?1, '', 0, EXISTS (SELECT 1 FROM records WHERE cid = ?1 AND deleted = 0))
ON CONFLICT (cid) DO UPDATE SET after = '', upto = 0, sweep = excluded.sweep`,
}

// endRecordFetchSQL forgets a channel's fetch.
var endRecordFetchSQL = []string{
	`DELETE FROM record_fetch_seen WHERE cid = ?1`,
	`DELETE FROM record_fetches WHERE cid = ?1`,
}

// sweepRecordsSQL turns into tombstones the live records of channel ?1 at
// a version up to ?2 that the fetch's pages did not bring: the server
// deleted them before the first page was read. A record a pending write
// overlays is left to its write, which the server refuses.
const sweepRecordsSQL = `UPDATE records SET deleted = 1, fields = '{}', field_versions = '{}'
WHERE cid = ?1 AND deleted = 0 AND version > 0 AND version <= ?2
	AND NOT EXISTS (SELECT 1 FROM record_fetch_seen s WHERE s.cid = records.cid AND s.collection = records.collection AND s.id = records.id)
	AND NOT EXISTS (SELECT 1 FROM record_overlays o WHERE o.cid = records.cid AND o.collection = records.collection AND o.id = records.id)
RETURNING collection, id`

var markRecordSeen = newTemplate(`INSERT OR IGNORE INTO record_fetch_seen (cid, collection, id) VALUES `, 3, ``)

func recordFetchQueries(b *[]Query, sqls []string, cid string) {
	for _, q := range sqls {
		*b = append(*b, Query{SQL: q, Args: []any{cid}})
	}
}

// ApplySyncStates stores channel states a sync fetched, as
// ApplyChannelStates does, and in the same transaction starts the fetch
// of each channel's records whole (see RecordFetches).
func (d *DB) ApplySyncStates(ctx context.Context, states []protocol.ChannelResponse, inaccessible []string) error {
	return d.applyChannelStates(ctx, states, inaccessible, true)
}

// RecordFetches returns the channels whose records are being fetched
// whole, each with the key its next page follows.
func (d *DB) RecordFetches(ctx context.Context) ([]RecordFetch, error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	var out []RecordFetch
	if err := d.db.SelectContext(ctx, &out, `SELECT cid AS "cid", after AS "after" FROM record_fetches ORDER BY cid`); err != nil {
		return nil, fmt.Errorf("offlinedb: record fetches: %w", err)
	}
	return out, nil
}

// EndRecordFetch forgets the fetch of channel cid's records without a
// sweep: the server no longer shows the channel's records (the sync that
// follows says what became of the channel).
func (d *DB) EndRecordFetch(ctx context.Context, cid string) error {
	if d.closed.Load() {
		return ErrClosed
	}
	return d.inTxNote(ctx, nil, func(tx *sqlx.Tx) error {
		for _, q := range endRecordFetchSQL {
			if _, err := tx.ExecContext(ctx, q, cid); err != nil {
				return fmt.Errorf("offlinedb: end record fetch: %w", err)
			}
		}
		return nil
	})
}

// ApplyRecordsPage stores a page of channel cid's records, fetched after
// the key RecordFetches gave, in one transaction with the key the next
// page follows. The last page (no Next) ends the fetch: when the channel
// held live records before it, those at a version up to the first page's
// position that no page brought become tombstones, and their keys are
// returned. A page of a channel with no fetch under way (the channel was
// dropped meanwhile) is not stored.
func (d *DB) ApplyRecordsPage(ctx context.Context, cid string, page *protocol.RecordsResponse) (swept []RecordKey, err error) {
	if d.closed.Load() {
		return nil, ErrClosed
	}
	qs := make([]Query, 0, len(page.Records))
	for i := range page.Records {
		r := &page.Records[i]
		if r.CID != cid {
			return nil, fmt.Errorf("offlinedb: apply records page: record %s/%s is of channel %q, not %q", r.Collection, r.ID, r.CID, cid)
		}
		q, err := recordQuery(r, "records "+cid)
		if err != nil {
			return nil, fmt.Errorf("offlinedb: apply records page: %w", err)
		}
		qs = append(qs, q)
	}
	n := &changelog.Note{Kind: changelog.Sync}
	for i := range page.Records {
		r := &page.Records[i]
		n.Record(RecordKey{CID: r.CID, Collection: r.Collection, ID: r.ID})
	}
	err = d.inTxNote(ctx, n, func(tx *sqlx.Tx) error {
		var f struct {
			After string `db:"after"`
			Upto  int64  `db:"upto"`
			Sweep bool   `db:"sweep"`
		}
		err := tx.GetContext(ctx, &f, `SELECT after, upto, sweep FROM record_fetches WHERE cid = ?`, cid)
		if errors.Is(err, sql.ErrNoRows) {
			*n = changelog.Note{}
			return nil
		}
		if err != nil {
			return err
		}
		if f.Upto == 0 && page.Position != nil {
			f.Upto = page.Position.Seq
		}
		if f.Sweep {
			for i := range page.Records {
				r := &page.Records[i]
				qs = append(qs, markRecordSeen.query("seen "+cid, cid, r.Collection, r.ID))
			}
		}
		if len(qs) > 0 {
			if err := withOverlays(ctx, tx, func() error { return d.runFast(ctx, tx, qs) }); err != nil {
				return err
			}
		}
		if page.Next != "" && page.Next != f.After {
			_, err := tx.ExecContext(ctx, `UPDATE record_fetches SET after = ?, upto = ? WHERE cid = ?`, page.Next, f.Upto, cid)
			return err
		}
		if f.Sweep {
			if swept, err = sweepRecords(ctx, tx, cid, f.Upto); err != nil {
				return err
			}
			for _, k := range swept {
				n.Record(k)
			}
		}
		for _, q := range endRecordFetchSQL {
			if _, err := tx.ExecContext(ctx, q, cid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("offlinedb: apply records page: %w", err)
	}
	return swept, nil
}

// sweepRecords runs sweepRecordsSQL and returns the keys it swept.
func sweepRecords(ctx context.Context, tx *sqlx.Tx, cid string, upto int64) ([]RecordKey, error) {
	rows, err := tx.QueryContext(ctx, sweepRecordsSQL, cid, upto)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RecordKey
	for rows.Next() {
		k := RecordKey{CID: cid}
		if err := rows.Scan(&k.Collection, &k.ID); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
