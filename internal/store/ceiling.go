package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/protocol"
)

// CeilingPage is one page of the ceiling's rows: messages already
// decoded, and the channel positions the page reaches.
type CeilingPage struct {
	Messages  []protocol.Message
	Positions []protocol.ChannelPosition
}

// WriteCeiling writes page the fastest honest way the store's schema
// allows, for the benchmarks to measure the sync apply against: the same
// rows as message.new events leave, through the same version- and
// tombstone-guarded upsert and the same indexes, in statements of up to
// rows rows each (the apply's statement of each row: plainMessage for
// most), with the page's channel positions and latest activity,
// in one transaction. It skips what the apply spends on anything else
// (decoding, events of other kinds, the feed, overlays, skipping a bad
// event). Nothing in the SDK calls it.
func (d *DB) WriteCeiling(ctx context.Context, page CeilingPage, rows int) error {
	if rows <= 0 {
		return fmt.Errorf("offlinedb: ceiling: %d rows a statement", rows)
	}
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		c := d.stmtsFor(tx)
		ev := &protocol.Event{Type: protocol.EventMessageNew}
		b := builder{ev: ev}
		msgs := page.Messages
		qs := make([]Query, len(msgs))
		activity := make(map[string]int64)
		for i := range msgs {
			m := &msgs[i]
			activity[m.CID] = max(activity[m.CID], m.CreatedAt.UnixNano())
			t, args := b.messageUpsert(m, m.CID, m.Version, nil)
			qs[i] = t.query("", args...)
		}
		if err := execMerged(ctx, c, qs, upTo(rows)); err != nil {
			return err
		}
		var args []any
		pos := page.Positions
		if err := execRows(ctx, c, setChannelPositions, len(pos), upTo(maxMergedRows), args, func(args []any, i int) []any {
			p := &pos[i]
			return append(args, p.CID, p.Epoch, p.Seq, p.EventID)
		}); err != nil {
			return err
		}
		active := make([]string, 0, len(activity))
		for cid := range activity {
			active = append(active, cid)
		}
		return execRows(ctx, c, channelProgress, len(active), upTo(maxMergedRows), args, func(args []any, i int) []any {
			return append(args, active[i], activity[active[i]])
		})
	})
}

// upTo is the ceiling's statement size: as many rows as are left, up to
// per, whatever texts that takes (the ceiling's statements are few).
func upTo(per int) func(n int) int {
	return func(n int) int { return min(n, per) }
}
