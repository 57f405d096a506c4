package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/changelog"
	"github.com/outpostsync/outpost/protocol"
)

// SyncPositions is where a sync starts from: what the store has applied.
type SyncPositions struct {
	// Feed is the position in the user's membership feed; nil before the
	// first sync (and after a reset).
	Feed *protocol.Position
	// Channels are the positions of every channel the store holds, in
	// CID order. A channel whose state has not been fetched yet (a
	// channel the feed announced) has the zero Position.
	Channels []protocol.ChannelPosition
	// LastSyncAt is the server time of the last complete sync; zero if
	// none.
	LastSyncAt time.Time
}

// SyncPositions returns the user's positions.
func (d *DB) SyncPositions(ctx context.Context) (SyncPositions, error) {
	userID, err := d.boundUser()
	if err != nil {
		return SyncPositions{}, err
	}
	var out SyncPositions
	var rows []struct {
		CID     string `db:"cid"`
		Epoch   string `db:"epoch"`
		Seq     int64  `db:"last_seq"`
		EventID string `db:"last_event_id"`
	}
	if err := d.db.SelectContext(ctx, &rows, `SELECT cid, epoch, last_seq, last_event_id FROM channels ORDER BY cid`); err != nil {
		return out, fmt.Errorf("offlinedb: positions: %w", err)
	}
	out.Channels = make([]protocol.ChannelPosition, len(rows))
	for i, r := range rows {
		p := protocol.Position{Epoch: r.Epoch, Seq: r.Seq, EventID: r.EventID}
		if r.Epoch == "" {
			p = protocol.Position{} // no state yet: ask from scratch
		}
		out.Channels[i] = protocol.ChannelPosition{CID: r.CID, Position: p}
	}
	var feed protocol.Position
	err = d.db.QueryRowxContext(ctx, `SELECT epoch, seq, event_id FROM feed_position WHERE user_id = ?`, userID).
		Scan(&feed.Epoch, &feed.Seq, &feed.EventID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return out, fmt.Errorf("offlinedb: feed position: %w", err)
	default:
		out.Feed = &feed
	}
	last, ok, err := d.LastSyncedAt(ctx)
	if err != nil {
		return out, err
	}
	if ok {
		out.LastSyncAt = last
	}
	return out, nil
}

// PageResult says what applying a sync page left to do.
type PageResult struct {
	// NeedState lists the channels whose state must be fetched (new to
	// the store, or reset by the server), in CID order. Their cached rows
	// stay: ApplyChannelStates re-checks them against the state.
	NeedState []string
	// Dropped lists the channels the page removed from the store (the
	// user left or lost access).
	Dropped []string
	// Skipped lists the events that could not be applied.
	Skipped []*EventError
}

// Queries that drop a channel's cached server data. Pending and failed
// rows stay: they belong to the outbox and the failed list.
var dropChannelSQL = []string{
	`DELETE FROM messages WHERE cid = ?1 AND status = 'sent'`,
	`DELETE FROM reactions WHERE cid = ?1 AND status = 'sent'`,
	`DELETE FROM tombstones WHERE cid = ?1`,
	`DELETE FROM channels WHERE cid = ?1`, // members and reads cascade
}

// announceChannelSQL records a channel the user is a member of whose
// state is not here yet: hidden from Channels, synced from scratch.
const announceChannelSQL = `INSERT INTO channels (cid, type, id, stub) VALUES (?1, ?2, ?3, 1)
ON CONFLICT (cid) DO NOTHING`

const setChannelPositionSQL = `UPDATE channels SET epoch = ?2, last_seq = ?3, last_event_id = ?4, stub = 0
WHERE cid = ?1 AND (epoch <> ?2 OR last_seq < ?3)`

// setChannelPositions is setChannelPositionSQL for many channels in one
// statement; its rows must name distinct channels.
var setChannelPositions = newTemplate(`UPDATE channels SET epoch = v.column2, last_seq = v.column3, last_event_id = v.column4, stub = 0
FROM (VALUES `, 4, `) AS v WHERE channels.cid = v.column1 AND (channels.epoch <> v.column2 OR channels.last_seq < v.column3)`)

// forgetPositionEventSQL takes the event id out of a channel's position
// (epoch ?2, seq ?3) that the live path found another event at. A
// position with a seq and no event id is one no live event moves on, and
// one the server answers with a reset: its event at that seq has an id.
const forgetPositionEventSQL = `UPDATE channels SET last_event_id = '' WHERE cid = ?1 AND epoch = ?2 AND last_seq = ?3`

const setFeedPositionSQL = `INSERT INTO feed_position (user_id, epoch, seq, event_id) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (user_id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, event_id = excluded.event_id`

// dropChannel appends the queries that drop cid's cached rows; group, if
// set, names the queries' event group (see ExecQueries).
func dropChannel(b *[]Query, cid, group string) {
	for _, q := range dropChannelSQL {
		*b = append(*b, Query{SQL: q, Args: []any{cid}, EventID: group})
	}
}

// dropGoneChannel drops a channel the user may no longer read: its cached
// rows, as dropChannel, and its records (a state replacing the channel's
// rows keeps them: a channel's records are all held).
func dropGoneChannel(b *[]Query, cid string) {
	dropChannel(b, cid, "")
	*b = append(*b, Query{SQL: deleteChanRecordsSQL, Args: []any{cid}})
	recordFetchQueries(b, endRecordFetchSQL, cid)
}

func announceChannel(b *[]Query, cid string) error {
	typ, id, err := protocol.SplitCID(cid)
	if err != nil {
		return err
	}
	*b = append(*b, Query{SQL: announceChannelSQL, Args: []any{cid, typ, id}})
	return nil
}

// ApplySyncPage applies one page of a sync with the positions it reaches,
// in one transaction: a crash leaves the store before the page or after
// it. The feed comes first: a channel the user left is dropped with its
// cached rows; one the user joined is recorded for its state to be
// fetched (PageResult.NeedState); a feed reset drops every channel it
// does not list. Then the channel events, and each channel's new position.
// A channel the server reset keeps its rows, is marked reset (its next
// state replaces them, or, when only the log was pruned, is applied
// exactly: see ApplyChannelStates) and listed in NeedState. On
// the last page (More unset) the page's SyncedAt becomes LastSyncAt.
func (d *DB) ApplySyncPage(ctx context.Context, page *protocol.SyncResponse) (PageResult, error) {
	return d.ApplyPreparedSyncPage(ctx, d.PrepareSyncPage(page))
}

// PreparedSyncPage is a sync page with the queries of its channel events
// built (PrepareSyncPage), ready for ApplyPreparedSyncPage. The build needs
// nothing from the store, so it can run beside the apply of the page
// before.
type PreparedSyncPage struct {
	page  *protocol.SyncResponse
	built []builtEvent // one per page.Events
	nqs   int          // the queries of built, all told
}

type builtEvent struct {
	qs      []Query
	ignored bool
	err     error
}

// PrepareSyncPage builds the queries of page's channel events. The page
// must not change after.
func (d *DB) PrepareSyncPage(page *protocol.SyncResponse) *PreparedSyncPage {
	p := &PreparedSyncPage{page: page, built: make([]builtEvent, len(page.Events))}
	for i := range page.Events {
		b := &p.built[i]
		b.qs, b.ignored, b.err = buildQueries(&page.Events[i])
		p.nqs += len(b.qs)
	}
	return p
}

// ApplyPreparedSyncPage is ApplySyncPage of a prepared page.
func (d *DB) ApplyPreparedSyncPage(ctx context.Context, prepared *PreparedSyncPage) (PageResult, error) {
	userID, err := d.boundUser()
	if err != nil {
		return PageResult{}, err
	}
	page := prepared.page
	var res PageResult
	counted := false // ignored events are counted by the first attempt only
	note := func(n *changelog.Note) {
		n.Kind = changelog.Sync
		n.Page(page, res.Dropped)
	}
	skipped, err := d.applyBuilt(ctx, note, func(ctx context.Context, tx *sqlx.Tx) ([]Query, error) {
		res = PageResult{}
		var held []string
		if err := tx.SelectContext(ctx, &held, `SELECT cid FROM channels ORDER BY cid`); err != nil {
			return nil, err
		}
		holds := make(map[string]bool, len(held))
		for _, cid := range held {
			holds[cid] = true
		}
		// Channels whose page events must not apply: dropped, or to be
		// fetched whole.
		skip := map[string]bool{}
		need := map[string]bool{}
		// Room for the events' queries and a position per channel.
		qs := make([]Query, 0, prepared.nqs+len(page.Channels)+1)
		drop := func(cid string) {
			if holds[cid] {
				dropGoneChannel(&qs, cid)
				res.Dropped = append(res.Dropped, cid)
				holds[cid] = false
			}
			skip[cid], need[cid] = true, false
		}
		add := func(cid string) error {
			skip[cid] = true
			if holds[cid] {
				return nil // held already; its sync goes on
			}
			if err := announceChannel(&qs, cid); err != nil {
				return err
			}
			holds[cid], need[cid] = true, true
			return nil
		}
		feed := page.Feed
		if feed.Reset {
			listed := make(map[string]bool, len(feed.Channels))
			for _, cid := range feed.Channels {
				listed[cid] = true
			}
			for _, cid := range held {
				if !listed[cid] {
					drop(cid)
				}
			}
			for _, cid := range feed.Channels {
				if err := add(cid); err != nil {
					return nil, fmt.Errorf("offlinedb: feed lists %q: %w", cid, err)
				}
			}
			// The reset says which channels are hidden, as of the
			// feed's head: later feed events are past it.
			hidden := make(map[string]bool, len(feed.Hidden))
			for _, cid := range feed.Hidden {
				hidden[cid] = true
			}
			for _, cid := range feed.Channels {
				qs = append(qs, Query{SQL: setHiddenSQL, Args: []any{cid, boolInt(hidden[cid]), feed.Position.Seq}})
			}
		}
		for i := range feed.Events {
			ev := &feed.Events[i]
			switch ev.Type {
			case protocol.EventNotificationAddedToChannel:
				drop(ev.CID) // a re-add starts afresh
				if err := add(ev.CID); err != nil {
					res.Skipped = append(res.Skipped, asEventError(ev, invalidEvent(ev, "%v", err)))
				}
			case protocol.EventNotificationRemovedFromChannel, protocol.EventChannelDeleted:
				drop(ev.CID)
			default:
				q, err := d.queriesFor(ev)
				if err != nil {
					res.Skipped = append(res.Skipped, asEventError(ev, err))
					continue
				}
				qs = append(qs, q...)
			}
		}
		if !feed.Position.IsZero() {
			p := feed.Position
			qs = append(qs, Query{SQL: setFeedPositionSQL, Args: []any{userID, p.Epoch, p.Seq, p.EventID}})
		}
		for _, cs := range page.Channels {
			switch cs.Status {
			case protocol.ChannelInaccessible:
				drop(cs.CID)
			case protocol.ChannelReset:
				if holds[cs.CID] {
					need[cs.CID] = true
					qs = append(qs, markReset(cs.CID, cs.Reason))
				}
				skip[cs.CID] = true
			}
		}
		for i := range page.Events {
			ev := &page.Events[i]
			if skip[ev.CID] || !holds[ev.CID] {
				continue
			}
			b := &prepared.built[i]
			if b.ignored && !counted {
				d.ignored.Add(1)
			}
			if b.err != nil {
				res.Skipped = append(res.Skipped, asEventError(ev, b.err))
				continue
			}
			qs = append(qs, b.qs...)
		}
		counted = true
		// The positions go in merged statements, which need distinct
		// channels; a channel listed twice (a bad server) gets its
		// later positions one statement each, as guarded as the rest.
		moved := make(map[string]bool, len(page.Channels))
		for _, cs := range page.Channels {
			if cs.Status != protocol.ChannelOK || cs.Position == nil || skip[cs.CID] || !holds[cs.CID] {
				continue
			}
			p := cs.Position
			if moved[cs.CID] {
				qs = append(qs, Query{SQL: setChannelPositionSQL, Args: []any{cs.CID, p.Epoch, p.Seq, p.EventID}})
				continue
			}
			moved[cs.CID] = true
			qs = append(qs, setChannelPositions.query("", cs.CID, p.Epoch, p.Seq, p.EventID))
		}
		if !page.More && !page.SyncedAt.IsZero() {
			qs = append(qs, lastSyncedAtQuery(userID, page.SyncedAt))
		}
		for cid, n := range need {
			if n {
				res.NeedState = append(res.NeedState, cid)
			}
		}
		slices.Sort(res.NeedState)
		return qs, nil
	})
	if err != nil {
		return PageResult{}, fmt.Errorf("offlinedb: apply sync page: %w", err)
	}
	res.Skipped = append(res.Skipped, skipped...)
	return res, nil
}

func asEventError(ev *protocol.Event, err error) *EventError {
	var ee *EventError
	if errors.As(err, &ee) {
		return ee
	}
	return &EventError{EventID: ev.ID, Err: err}
}

// keepHidden returns the queries that hide again, after their rows are
// replaced, the channels of states that were hidden before (with the
// version of the feed event that hid them) or whose state says hidden.
func keepHidden(ctx context.Context, tx *sqlx.Tx, states []protocol.ChannelResponse) ([]Query, error) {
	var qs []Query
	for i := range states {
		cid := states[i].Channel.CID
		var hidden bool
		var version int64
		err := tx.QueryRowxContext(ctx, `SELECT hidden, hidden_version FROM channels WHERE cid = ?`, cid).Scan(&hidden, &version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		if hidden || states[i].Channel.Hidden {
			qs = append(qs, Query{SQL: setHiddenSQL, Args: []any{cid, 1, version}, EventID: "state " + cid})
		}
	}
	return qs, nil
}

// setHiddenSQL sets a channel's hidden flag and the version it is at.
const setHiddenSQL = `UPDATE channels SET hidden = ?2, hidden_version = ?3 WHERE cid = ?1`

// SetChannelHidden sets the local hidden flag of the channel cid, as a
// hide or show the server has just accepted left it, without waiting for
// the feed event that carries it (which, applied later, sets the same).
// ErrNotFound if the store does not hold the channel.
func (d *DB) SetChannelHidden(ctx context.Context, cid string, hidden bool) error {
	if d.closed.Load() {
		return ErrClosed
	}
	n := &changelog.Note{Kind: changelog.Sync}
	n.Channel(cid)
	err := d.inTxNote(ctx, n, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE channels SET hidden = ?2 WHERE cid = ?1`, cid, boolInt(hidden))
		if err != nil {
			return fmt.Errorf("offlinedb: set channel hidden: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("%w: channel %q", ErrNotFound, cid)
		}
		return nil
	})
	return err
}

// LiveResult says what ApplyLiveEvents did.
type LiveResult struct {
	// Applied counts the events applied.
	Applied int
	// AppliedEvents are the indexes (in the events given) of the events
	// applied, in order: the store holds them once ApplyLiveEvents
	// returns.
	AppliedEvents []int
	// NeedSync is set when some event could not be applied in order (a
	// gap in a channel's seq, another epoch, a channel not held, a feed
	// event): a sync brings what is missing.
	NeedSync bool
	// Skipped lists the events that could not be applied.
	Skipped []*EventError
}

// ApplyLiveEvents applies events as they arrive over a live connection,
// in one transaction. A channel event applies only when it is the next of
// its channel's log (same epoch, seq one past the store's), and moves the
// channel's position with it; an event the store has already is dropped;
// any other (a gap, another epoch, a channel not held, a feed event) is
// dropped and NeedSync set, so the caller syncs. An event at the
// channel's position whose id is not the position's is another log's (a
// log rewritten under the same epoch): nothing of the channel is applied
// live until a sync settles it (see forgetPositionEventSQL), and NeedSync
// is set. Events of no log (a
// user.updated about another user) apply as they come: their rows carry
// versions of their own.
func (d *DB) ApplyLiveEvents(ctx context.Context, evs []protocol.Event) (LiveResult, error) {
	if d.closed.Load() {
		return LiveResult{}, ErrClosed
	}
	var res LiveResult
	note := func(n *changelog.Note) {
		if len(res.AppliedEvents) > 0 {
			n.Kind = changelog.Live
		}
		for _, i := range res.AppliedEvents {
			n.Event(&evs[i])
		}
	}
	skipped, err := d.applyBuilt(ctx, note, func(ctx context.Context, tx *sqlx.Tx) ([]Query, error) {
		res = LiveResult{}
		type pos struct {
			epoch string
			seq   int64
			id    string
			moved bool
		}
		at := map[string]*pos{}
		var qs []Query
		for i := range evs {
			ev := &evs[i]
			if ev.Type.InFeed() && ev.Seq > 0 {
				// A place in the feed: the feed position moves only
				// through sync, in order.
				res.NeedSync = true
				continue
			}
			if ev.CID == "" || ev.Seq <= 0 {
				q, err := d.queriesFor(ev)
				if err != nil {
					res.Skipped = append(res.Skipped, asEventError(ev, err))
					continue
				}
				qs = append(qs, q...)
				res.Applied++
				res.AppliedEvents = append(res.AppliedEvents, i)
				continue
			}
			p, ok := at[ev.CID]
			if !ok {
				p = &pos{}
				err := tx.QueryRowxContext(ctx, `SELECT epoch, last_seq, last_event_id FROM channels WHERE cid = ?`, ev.CID).
					Scan(&p.epoch, &p.seq, &p.id)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return nil, err
				}
				at[ev.CID] = p
			}
			switch {
			case p.epoch == "" || p.seq > 0 && p.id == "" || ev.Epoch != p.epoch || ev.Seq > p.seq+1:
				// A gap, another epoch, a channel not held, or a
				// position found diverged (below).
				res.NeedSync = true
				continue
			case ev.Seq == p.seq && ev.ID != p.id:
				// Another event at the position: the log was rewritten
				// under the same epoch. The position forgets its event
				// id, which holds the channel's live events back and
				// makes the next sync's position one the server answers
				// with a reset (diverged), as a sync finds it.
				if !p.moved {
					qs = append(qs, Query{SQL: forgetPositionEventSQL, Args: []any{ev.CID, p.epoch, p.seq}})
				}
				p.id = "" // a position this batch moved is stored without it
				res.NeedSync = true
				continue
			case ev.Seq <= p.seq:
				continue // applied already
			}
			q, err := d.queriesFor(ev)
			if err != nil {
				// The log moves on past it, as a sync page would.
				res.Skipped = append(res.Skipped, asEventError(ev, err))
				q = nil
			} else {
				res.AppliedEvents = append(res.AppliedEvents, i)
			}
			qs = append(qs, q...)
			p.seq, p.id, p.moved = ev.Seq, ev.ID, true
			res.Applied++
		}
		for cid, p := range at {
			if p.moved {
				qs = append(qs, Query{SQL: setChannelPositionSQL, Args: []any{cid, p.epoch, p.seq, p.id}})
			}
		}
		return qs, nil
	})
	if err != nil {
		return LiveResult{}, fmt.Errorf("offlinedb: apply live events: %w", err)
	}
	res.Skipped = append(res.Skipped, skipped...)
	if len(res.Skipped) > 0 {
		res.NeedSync = true
	}
	return res, nil
}
