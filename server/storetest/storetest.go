package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// Harness opens the stores under test.
type Harness interface {
	// Open returns a store on a fresh, empty database, closed when t
	// ends.
	Open(t *testing.T) server.Store
	// OpenAgain returns a second store instance on the database of st,
	// as a second server node would open it, closed when t ends.
	OpenAgain(t *testing.T, st server.Store) server.Store
}

// Run runs the suite against the stores h opens.
func Run(t *testing.T, h Harness) {
	t.Run("ConcurrentWritersAndReaders", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, h) })
	t.Run("Epochs", func(t *testing.T) { testEpochs(t, h) })
	t.Run("Feed", func(t *testing.T) { testFeed(t, h) })
	t.Run("MessagesInSeqOrder", func(t *testing.T) { testMessages(t, h) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, h) })
	t.Run("HiddenChannels", func(t *testing.T) { testHidden(t, h) })
	t.Run("RecordBadInput", func(t *testing.T) { testRecordBadInput(t, h) })
	t.Run("RecordConflicts", func(t *testing.T) { testRecordConflicts(t, h) })
	t.Run("RecordsConcurrent", func(t *testing.T) { testRecordsConcurrent(t, h) })
	t.Run("RecordsPagedState", func(t *testing.T) { testRecordsPagedState(t, h) })
	t.Run("RecordRulesAcrossNodes", func(t *testing.T) { testRecordRulesAcrossNodes(t, h) })
	t.Run("RecordsWithChannel", func(t *testing.T) { testRecordsWithChannel(t, h) })
	t.Run("RecordsOutliveRetention", func(t *testing.T) { testRecordsOutliveRetention(t, h) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, h) })
	t.Run("ServerID", func(t *testing.T) { testServerID(t, h) })
	t.Run("Redaction", func(t *testing.T) { testRedaction(t, h) })
}

var ctx = context.Background()

// createChannel makes a channel with members, as the server does.
func createChannel(t *testing.T, st server.Store, cid string, members ...string) {
	t.Helper()
	err := st.Update(ctx, func(tx server.Tx) error {
		typ, id, _ := protocol.SplitCID(cid)
		if err := tx.PutChannel(protocol.Channel{CID: cid, Type: typ, ID: id, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}); err != nil {
			return err
		}
		for _, m := range members {
			if err := tx.PutMember(protocol.Member{CID: cid, UserID: m, Role: "member", CreatedAt: tx.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var idMu sync.Mutex
var idN int

func newID(prefix string) string {
	idMu.Lock()
	defer idMu.Unlock()
	idN++
	return fmt.Sprintf("%s%d", prefix, idN)
}

// appendEvent appends one event to cid's log in tx, as the server's emit
// does, and returns it.
func appendEvent(tx server.Tx, cid string) (protocol.Event, error) {
	id := newID("ev")
	pos, err := tx.NextPosition(cid, id)
	if err != nil {
		return protocol.Event{}, err
	}
	ev := protocol.Event{ID: id, Type: protocol.EventMessageRead, CID: cid, Seq: pos.Seq, Epoch: pos.Epoch, CreatedAt: tx.Now()}
	return ev, tx.AppendEvent(ev)
}

func channelLog(t *testing.T, st server.Store, cid string) server.LogState {
	t.Helper()
	var ls server.LogState
	if err := st.View(ctx, func(tx server.Tx) error {
		var err error
		ls, err = tx.ChannelLog(cid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ls
}

// testConcurrent runs writers on two store instances of one database, each
// write appending events to one or two channels, while readers on both
// instances follow every channel from their positions as a syncing client
// does. Every reader must see each channel's events exactly once, in seq
// order: 0 skipped, 0 applied twice by (cid, seq). In every snapshot
// each log's LastEventID is the id of the event at its LastSeq.
//
// This test was checked once against a broken counter: with the SQLite
// store's NextPosition bumping a value of the counter read before the
// write's transaction began (instead of the row locked in it), the
// writers of the two instances took the same seqs and the test failed
// ("writer 4: UNIQUE constraint failed: events.cid, events.seq").
func testConcurrent(t *testing.T, h Harness) {
	st1 := h.Open(t)
	st2 := h.OpenAgain(t, st1)
	stores := []server.Store{st1, st2}
	cids := []string{"team:a", "team:b", "team:c", "team:d"}
	for _, cid := range cids {
		createChannel(t, st1, cid, "reader")
	}
	const writers, writes = 6, 40
	var wg sync.WaitGroup
	errc := make(chan error, writers+2)
	var written sync.Map // event id -> (cid, seq)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%2]
			for i := range writes {
				var evs []protocol.Event
				err := st.Update(ctx, func(tx server.Tx) error {
					evs = evs[:0]
					for k := range 1 + i%2 {
						ev, err := appendEvent(tx, cids[(w+i+k)%len(cids)])
						if err != nil {
							return err
						}
						evs = append(evs, ev)
					}
					return nil
				})
				if err != nil {
					errc <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				for _, ev := range evs {
					written.Store(ev.ID, [2]any{ev.CID, ev.Seq})
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	type applied struct {
		pos  map[string]int64
		seen map[string]bool // cid/seq
	}
	results := make([]applied, 2)
	var rwg sync.WaitGroup
	for r := range 2 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			st := stores[r]
			a := applied{pos: map[string]int64{}, seen: map[string]bool{}}
			defer func() { results[r] = a }()
			final := false
			for {
				select {
				case <-done:
					final = true // one more pass after the last commit
				default:
				}
				err := st.View(ctx, func(tx server.Tx) error {
					logs, err := tx.ChannelLogs("reader")
					if err != nil {
						return err
					}
					if err := checkHeads(tx, logs); err != nil {
						return err
					}
					for _, l := range logs {
						for a.pos[l.Key] < l.LastSeq {
							evs, err := tx.ChannelEvents(l.Key, a.pos[l.Key], 7)
							if err != nil {
								return err
							}
							if len(evs) == 0 {
								return fmt.Errorf("%s: no events after %d though the log is at %d", l.Key, a.pos[l.Key], l.LastSeq)
							}
							for _, e := range evs {
								if e.Seq != a.pos[l.Key]+1 {
									return fmt.Errorf("%s: seq %d after %d: skipped", l.Key, e.Seq, a.pos[l.Key])
								}
								k := fmt.Sprintf("%s/%d", l.Key, e.Seq)
								if a.seen[k] {
									return fmt.Errorf("%s applied twice", k)
								}
								a.seen[k] = true
								a.pos[l.Key] = e.Seq
							}
						}
					}
					return nil
				})
				if err != nil {
					errc <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if final {
					return
				}
			}
		}()
	}
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	total := 0
	written.Range(func(_, _ any) bool { total++; return true })
	sum := int64(0)
	for _, cid := range cids {
		ls := channelLog(t, st1, cid)
		sum += ls.LastSeq
		for r, a := range results {
			if a.pos[cid] != ls.LastSeq {
				t.Errorf("reader %d ends %s at %d, want %d", r, cid, a.pos[cid], ls.LastSeq)
			}
		}
	}
	if sum != int64(total) {
		t.Errorf("logs hold %d events, %d were written", sum, total)
	}
	for _, cid := range cids {
		ls := channelLog(t, st2, cid)
		var want string
		written.Range(func(id, at any) bool {
			if at == [2]any{cid, ls.LastSeq} {
				want = id.(string)
			}
			return want == ""
		})
		if ls.LastEventID != want {
			t.Errorf("%s: head %d is %q, the event written there %q", cid, ls.LastSeq, ls.LastEventID, want)
		}
	}
	for r, a := range results {
		if len(a.seen) != total {
			t.Errorf("reader %d applied %d events, want %d", r, len(a.seen), total)
		}
	}
}

// checkHeads returns an error unless each log's LastEventID is the id
// of the event at its LastSeq, read with ChannelEventRanges.
func checkHeads(tx server.Tx, logs []server.LogState) error {
	ranges := make([]server.EventRange, len(logs))
	for i, l := range logs {
		ranges[i] = server.EventRange{Key: l.Key, From: l.LastSeq, To: l.LastSeq}
	}
	heads, err := tx.ChannelEventRanges(ranges)
	if err != nil {
		return err
	}
	if len(heads) != len(logs) {
		return fmt.Errorf("ChannelEventRanges of %d ranges: %d answers", len(logs), len(heads))
	}
	for i, l := range logs {
		switch {
		case l.LastSeq == 0 && (l.LastEventID != "" || len(heads[i]) != 0):
			return fmt.Errorf("%s: empty log with head %q, %d events", l.Key, l.LastEventID, len(heads[i]))
		case l.LastSeq > 0 && (len(heads[i]) != 1 || heads[i][0].ID != l.LastEventID || heads[i][0].Seq != l.LastSeq):
			return fmt.Errorf("%s: head %d is %q, the log holds %+v there", l.Key, l.LastSeq, l.LastEventID, heads[i])
		}
	}
	return nil
}

// testPrune: pruning by age and by count cuts each log's prefix and
// records the highest seq cut and its event id.
func testPrune(t *testing.T, h Harness) {
	st := h.Open(t)
	createChannel(t, st, "team:old", "u")
	createChannel(t, st, "team:long", "u")
	createChannel(t, st, "team:new", "u")
	ids := map[string][]string{}
	write := func(cid string, n int) {
		t.Helper()
		if err := st.Update(ctx, func(tx server.Tx) error {
			for range n {
				ev, err := appendEvent(tx, cid)
				if err != nil {
					return err
				}
				ids[cid] = append(ids[cid], ev.ID)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	write("team:old", 3)
	write("team:long", 10)
	write("team:new", 2)
	// Nothing is older than a minute ago; the count bound cuts team:long.
	n, err := st.Prune(ctx, time.Now().Add(-time.Minute), 4)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("pruned %d events by count, want 6", n)
	}
	if ls := channelLog(t, st, "team:long"); ls.PrunedSeq != 6 || ls.PrunedEventID != ids["team:long"][5] || ls.LastSeq != 10 {
		t.Errorf("team:long after the count bound = %+v, want pruned at 6 (%s)", ls, ids["team:long"][5])
	}
	if ls := channelLog(t, st, "team:old"); ls.PrunedSeq != 0 || ls.PrunedEventID != "" {
		t.Errorf("team:old pruned by count: %+v", ls)
	}
	err = st.View(ctx, func(tx server.Tx) error {
		evs, err := tx.ChannelEvents("team:long", 0, 100)
		if err != nil {
			return err
		}
		if len(evs) != 4 || evs[0].Seq != 7 {
			return fmt.Errorf("team:long keeps %d events from %v, want 4 from 7", len(evs), evs)
		}
		read, err := tx.ChannelEventRanges([]server.EventRange{
			{Key: "team:long", From: 6, To: 7}, // across the cut
			{Key: "team:missing", From: 1, To: 5},
			{Key: "team:old", From: 1, To: 3},
			{Key: "team:long", From: 9, To: 20}, // past the end
		})
		if err != nil {
			return err
		}
		if len(read) != 4 {
			return fmt.Errorf("ChannelEventRanges of 4 ranges: %d answers", len(read))
		}
		if r := read[0]; len(r) != 1 || r[0].Seq != 7 || r[0].ID != ids["team:long"][6] {
			return fmt.Errorf("team:long 6 to 7 = %+v, want only 7", r)
		}
		if len(read[1]) != 0 {
			return fmt.Errorf("a missing channel's range = %+v", read[1])
		}
		if r := read[2]; len(r) != 3 || r[0].Seq != 1 || r[2].Seq != 3 || r[2].ID != ids["team:old"][2] {
			return fmt.Errorf("team:old 1 to 3 = %+v", r)
		}
		if r := read[3]; len(r) != 2 || r[0].Seq != 9 || r[1].Seq != 10 {
			return fmt.Errorf("team:long 9 to 20 = %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// By age: everything before a time after all writes.
	if _, err := st.Prune(ctx, time.Now().Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	for cid, want := range map[string]int64{"team:old": 3, "team:long": 10, "team:new": 2} {
		ls := channelLog(t, st, cid)
		if ls.PrunedSeq != want || ls.PrunedEventID != ids[cid][want-1] {
			t.Errorf("%s after pruning by age = %+v, want pruned at %d", cid, ls, want)
		}
		// The head outlives its event.
		if ls.LastSeq != want || ls.LastEventID != ids[cid][want-1] {
			t.Errorf("%s head after pruning = %+v, want %d (%s)", cid, ls, want, ids[cid][want-1])
		}
	}
	// The log goes on after its cut.
	write("team:old", 1)
	if ls := channelLog(t, st, "team:old"); ls.LastSeq != 4 || ls.LastEventID != ids["team:old"][3] || ls.PrunedSeq != 3 {
		t.Errorf("team:old after a new event = %+v", ls)
	}
	// A prune with nothing to cut changes nothing.
	if n, err := st.Prune(ctx, time.Now().Add(-time.Hour), 0); err != nil || n != 0 {
		t.Errorf("idle prune = %d, %v", n, err)
	}
	if ls := channelLog(t, st, "team:old"); ls.PrunedSeq != 3 || ls.PrunedEventID != ids["team:old"][2] {
		t.Errorf("team:old after an idle prune = %+v", ls)
	}
}

// testEpochs: every channel creation begins a log with its own epoch, seq
// from 1; a channel's epoch stays as it is written to.
func testEpochs(t *testing.T, h Harness) {
	st := h.Open(t)
	seen := map[string]bool{}
	for i := range 20 {
		cid := fmt.Sprintf("team:e%d", i)
		createChannel(t, st, cid, "u")
		var first protocol.Position
		if err := st.Update(ctx, func(tx server.Tx) error {
			ev, err := appendEvent(tx, cid)
			first = protocol.Position{Epoch: ev.Epoch, Seq: ev.Seq}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		ls := channelLog(t, st, cid)
		if first.Seq != 1 || first.Epoch == "" || ls.Epoch != first.Epoch || ls.LastSeq != 1 {
			t.Fatalf("%s: first position %+v, log %+v", cid, first, ls)
		}
		if seen[ls.Epoch] {
			t.Fatalf("%s: epoch %s reused", cid, ls.Epoch)
		}
		seen[ls.Epoch] = true
		// Storing the channel again keeps its log.
		if err := st.Update(ctx, func(tx server.Tx) error {
			ch, err := tx.Channel(cid)
			if err != nil {
				return err
			}
			ch.Name = "renamed"
			return tx.PutChannel(ch)
		}); err != nil {
			t.Fatal(err)
		}
		if again := channelLog(t, st, cid); again != ls {
			t.Fatalf("%s: log changed by PutChannel: %+v -> %+v", cid, ls, again)
		}
	}
	var logs []server.LogState
	if err := st.View(ctx, func(tx server.Tx) error {
		var err error
		logs, err = tx.ChannelLogs("u")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(logs) != 20 || !slices.IsSortedFunc(logs, func(a, b server.LogState) int { return compare(a.Key, b.Key) }) {
		t.Fatalf("ChannelLogs = %d logs, sorted %v", len(logs), logs)
	}
	if err := st.Update(ctx, func(tx server.Tx) error {
		_, err := tx.NextPosition("team:missing", newID("ev"))
		return err
	}); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("NextPosition of a missing channel: %v, want ErrNotFound", err)
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testFeed: a user's feed begins at its first event with an epoch of its
// own, numbers events from 1 with no gaps under concurrent writers, reads
// back in order with payloads, and is pruned by age.
func testFeed(t *testing.T, h Harness) {
	st := h.Open(t)
	var empty server.LogState
	if err := st.View(ctx, func(tx server.Tx) error {
		var err error
		empty, err = tx.FeedLog("ann")
		return err
	}); err != nil || empty.Epoch != "" || empty.LastSeq != 0 {
		t.Fatalf("feed before its first event = %+v, %v", empty, err)
	}
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := st.Update(ctx, func(tx server.Tx) error {
					for _, user := range []string{"ann", "ben"} {
						id := newID("fe")
						pos, err := tx.NextFeedPosition(user, id)
						if err != nil {
							return err
						}
						ev := protocol.Event{ID: id, Type: protocol.EventNotificationAddedToChannel,
							CID: fmt.Sprintf("team:w%d-%d", w, i), Seq: pos.Seq, Epoch: pos.Epoch, CreatedAt: tx.Now()}
						if err := tx.AppendFeedEvent(user, ev); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	var ann, ben server.LogState
	err := st.View(ctx, func(tx server.Tx) error {
		var err error
		if ann, err = tx.FeedLog("ann"); err != nil {
			return err
		}
		if ben, err = tx.FeedLog("ben"); err != nil {
			return err
		}
		evs, err := tx.FeedEvents("ann", 0, 1000)
		if err != nil {
			return err
		}
		if len(evs) != writers*each {
			return fmt.Errorf("ann's feed holds %d events, want %d", len(evs), writers*each)
		}
		for i, e := range evs {
			ev, err := protocol.DecodeEvent(e.Payload)
			if err != nil {
				return err
			}
			if e.Seq != int64(i+1) || ev.Seq != e.Seq || ev.Epoch != ann.Epoch || ev.ID != e.ID {
				return fmt.Errorf("ann's feed event %d: seq %d, payload %+v", i, e.Seq, ev)
			}
		}
		page, err := tx.FeedEvents("ann", 5, 3)
		if err != nil || len(page) != 3 || page[0].Seq != 6 {
			return fmt.Errorf("FeedEvents after 5, 3: %v, %v", page, err)
		}
		if last := evs[len(evs)-1]; ann.LastEventID != last.ID {
			return fmt.Errorf("ann's feed head is %q, its last event %q", ann.LastEventID, last.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ann.Epoch == "" || ann.Epoch == ben.Epoch || ann.LastSeq != writers*each || ben.LastSeq != writers*each {
		t.Fatalf("feeds: ann %+v, ben %+v", ann, ben)
	}
	if _, err := st.Prune(ctx, time.Now().Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx server.Tx) error {
		after, err := tx.FeedLog("ann")
		if err != nil {
			return err
		}
		if after.PrunedSeq != ann.LastSeq || after.PrunedEventID != ann.LastEventID || after != (server.LogState{Key: "ann",
			Epoch: ann.Epoch, LastSeq: ann.LastSeq, LastEventID: ann.LastEventID, PrunedSeq: ann.LastSeq, PrunedEventID: ann.LastEventID}) {
			return fmt.Errorf("ann's feed after pruning by age = %+v", after)
		}
		evs, err := tx.FeedEvents("ann", 0, 10)
		if err != nil || len(evs) != 0 {
			return fmt.Errorf("ann's feed keeps %d events, %v", len(evs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testMessages: messages are ordered in their channel by the seq of their
// first store (their message.new event), not by time; UserChannelIDs is
// sorted.
func testMessages(t *testing.T, h Harness) {
	st := h.Open(t)
	createChannel(t, st, "team:m", "u")
	createChannel(t, st, "team:a", "u")
	same := time.Now().UTC().Truncate(time.Microsecond)
	err := st.Update(ctx, func(tx server.Tx) error {
		for _, id := range []string{"z", "y", "x"} { // ids against seq order
			pos, err := tx.NextPosition("team:m", "ev-"+id)
			if err != nil {
				return err
			}
			if err := tx.PutMessage(protocol.Message{ID: id, CID: "team:m", Text: id, CreatedAt: same, Version: pos.Seq}); err != nil {
				return err
			}
		}
		// An update with a later version keeps the message's place.
		m, err := tx.Message("z")
		if err != nil {
			return err
		}
		m.Version, m.Text = 99, "edited"
		return tx.PutMessage(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx server.Tx) error {
		ms, err := tx.Messages("team:m", server.MessagesPage{Limit: 10})
		if err != nil {
			return err
		}
		if got := messageIDs(ms); !slices.Equal(got, []string{"z", "y", "x"}) {
			return fmt.Errorf("messages = %v, want z y x", got)
		}
		y := ms[1]
		if ms, err = tx.Messages("team:m", server.MessagesPage{Limit: 10, After: &y}); err != nil || !slices.Equal(messageIDs(ms), []string{"x"}) {
			return fmt.Errorf("after y = %v, %v", messageIDs(ms), err)
		}
		if ms, err = tx.Messages("team:m", server.MessagesPage{Limit: 10, Before: &y}); err != nil || !slices.Equal(messageIDs(ms), []string{"z"}) {
			return fmt.Errorf("before y = %v, %v", messageIDs(ms), err)
		}
		if ms, err = tx.Messages("team:m", server.MessagesPage{Limit: 2}); err != nil || !slices.Equal(messageIDs(ms), []string{"y", "x"}) {
			return fmt.Errorf("latest 2 = %v, %v", messageIDs(ms), err)
		}
		// A page by seq: below y's place (its Version, the seq of its
		// message.new here), the newest first, up to Limit.
		if ms, err = tx.Messages("team:m", server.MessagesPage{Limit: 10, BeforeSeq: y.Version}); err != nil || !slices.Equal(messageIDs(ms), []string{"z"}) {
			return fmt.Errorf("before seq %d = %v, %v", y.Version, messageIDs(ms), err)
		}
		if ms, err = tx.Messages("team:m", server.MessagesPage{Limit: 1, BeforeSeq: 1000}); err != nil || !slices.Equal(messageIDs(ms), []string{"x"}) {
			return fmt.Errorf("newest 1 before a seq past the end = %v, %v", messageIDs(ms), err)
		}
		cids, err := tx.UserChannelIDs("u")
		if err != nil || !slices.Equal(cids, []string{"team:a", "team:m"}) {
			return fmt.Errorf("UserChannelIDs = %v, %v", cids, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func messageIDs(ms []protocol.Message) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// testIdempotency: a stored answer is found by its (user, key) only, and
// forgotten by a prune past its time.
func testIdempotency(t *testing.T, h Harness) {
	st := h.Open(t)
	if err := st.Update(ctx, func(tx server.Tx) error {
		return tx.PutIdempotentResult("ann", "k1", []byte(`{"a":1}`))
	}); err != nil {
		t.Fatal(err)
	}
	check := func(user, key, want string) {
		t.Helper()
		err := st.View(ctx, func(tx server.Tx) error {
			got, err := tx.IdempotentResult(user, key)
			if want == "" {
				if !errors.Is(err, server.ErrNotFound) {
					return fmt.Errorf("(%s, %s) = %s, %v, want ErrNotFound", user, key, got, err)
				}
				return nil
			}
			if err != nil || string(got) != want {
				return fmt.Errorf("(%s, %s) = %s, %v, want %s", user, key, got, err, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("ann", "k1", `{"a":1}`)
	check("ben", "k1", "")
	check("ann", "k2", "")
	if err := st.Update(ctx, func(tx server.Tx) error {
		return tx.PutIdempotentResult("ben", "k1", []byte(`{"b":1}`))
	}); err != nil {
		t.Fatalf("the same key for another user: %v", err)
	}
	check("ben", "k1", `{"b":1}`)
	if _, err := st.Prune(ctx, time.Now().Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	check("ann", "k1", "")
}

// testHidden checks the per-user hidden flag of a membership: it begins
// unset, is set for one member only, survives PutMember (a role change),
// is seen by a second store instance, and is gone when the member is
// removed and added again. A non-member gets ErrNotFound.
func testHidden(t *testing.T, h Harness) {
	st := h.Open(t)
	cid := "messaging:" + newID("hide")
	createChannel(t, st, cid, "ann", "ben")
	hidden := func(st server.Store, user string) (bool, error) {
		var got bool
		err := st.View(ctx, func(tx server.Tx) error {
			var err error
			got, err = tx.ChannelHidden(cid, user)
			return err
		})
		return got, err
	}
	want := func(st server.Store, user string, want bool) {
		t.Helper()
		got, err := hidden(st, user)
		if err != nil || got != want {
			t.Fatalf("ChannelHidden(%s, %s) = %v, %v, want %v", cid, user, got, err, want)
		}
	}
	update := func(fn func(tx server.Tx) error) {
		t.Helper()
		if err := st.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	want(st, "ann", false)
	update(func(tx server.Tx) error { return tx.SetChannelHidden(cid, "ann", true) })
	want(st, "ann", true)
	want(st, "ben", false)
	want(h.OpenAgain(t, st), "ann", true)
	createChannel(t, st, "messaging:"+newID("other"), "ann")
	var ids []string
	if err := st.View(ctx, func(tx server.Tx) error {
		var err error
		ids, err = tx.HiddenChannelIDs("ann")
		return err
	}); err != nil || len(ids) != 1 || ids[0] != cid {
		t.Fatalf("HiddenChannelIDs(ann) = %v, %v, want [%s]", ids, err, cid)
	}
	update(func(tx server.Tx) error {
		m, err := tx.Member(cid, "ann")
		if err != nil {
			return err
		}
		m.Role = protocol.RoleModerator
		return tx.PutMember(m)
	})
	want(st, "ann", true)
	update(func(tx server.Tx) error { return tx.SetChannelHidden(cid, "ann", false) })
	want(st, "ann", false)
	update(func(tx server.Tx) error { return tx.SetChannelHidden(cid, "ben", true) })
	update(func(tx server.Tx) error {
		if err := tx.DeleteMember(cid, "ben"); err != nil {
			return err
		}
		return tx.PutMember(protocol.Member{CID: cid, UserID: "ben", Role: "member", CreatedAt: tx.Now()})
	})
	want(st, "ben", false)

	if _, err := hidden(st, "cat"); !errors.Is(err, server.ErrNotFound) {
		t.Fatalf("ChannelHidden of a non-member: %v, want ErrNotFound", err)
	}
	err := st.Update(ctx, func(tx server.Tx) error { return tx.SetChannelHidden(cid, "cat", true) })
	if !errors.Is(err, server.ErrNotFound) {
		t.Fatalf("SetChannelHidden of a non-member: %v, want ErrNotFound", err)
	}
}

// testConcurrentCreate checks that of several creations of one cid at
// once, through two store instances, exactly one creates the channel:
// the others get ErrExists and then read the winner's channel, and the
// channel ends with the winner's row, one owner and one first event.
func testConcurrentCreate(t *testing.T, h Harness) {
	st1 := h.Open(t)
	stores := []server.Store{st1, h.OpenAgain(t, st1)}
	const rounds, creators = 10, 8
	for r := range rounds {
		cid := "team:" + newID("race")
		typ, id, _ := protocol.SplitCID(cid)
		start := make(chan struct{})
		won := make([]bool, creators)
		errs := make([]error, creators)
		var wg sync.WaitGroup
		for i := range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := fmt.Sprintf("u%d", i)
				<-start
				errs[i] = stores[i%2].Update(ctx, func(tx server.Tx) error {
					won[i] = false
					ch := protocol.Channel{CID: cid, Type: typ, ID: id, CreatedBy: user, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
					err := tx.CreateChannel(ch)
					if errors.Is(err, server.ErrExists) {
						got, err := tx.Channel(cid)
						if err != nil {
							return fmt.Errorf("Channel after ErrExists: %w", err)
						}
						if got.CreatedBy == user {
							return fmt.Errorf("ErrExists, but the channel is %s's own", user)
						}
						return nil
					}
					if err != nil {
						return err
					}
					if err := tx.PutMember(protocol.Member{CID: cid, UserID: user, Role: protocol.RoleOwner, CreatedAt: tx.Now()}); err != nil {
						return err
					}
					if _, err := appendEvent(tx, cid); err != nil {
						return err
					}
					won[i] = true
					return nil
				})
			}()
		}
		close(start)
		wg.Wait()
		winner := ""
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, creator %d: %v", r, i, err)
			}
			if won[i] {
				if winner != "" {
					t.Fatalf("round %d: both %s and u%d created %s", r, winner, i, cid)
				}
				winner = fmt.Sprintf("u%d", i)
			}
		}
		if winner == "" {
			t.Fatalf("round %d: nobody created %s", r, cid)
		}
		err := st1.View(ctx, func(tx server.Tx) error {
			ch, err := tx.Channel(cid)
			if err != nil {
				return err
			}
			ids, err := tx.MemberIDs(cid)
			if err != nil {
				return err
			}
			ls, err := tx.ChannelLog(cid)
			if err != nil {
				return err
			}
			if ch.CreatedBy != winner || !slices.Equal(ids, []string{winner}) || ls.LastSeq != 1 {
				return fmt.Errorf("channel by %s, members %v, last seq %d; want by %s, members [%s], last seq 1",
					ch.CreatedBy, ids, ls.LastSeq, winner, winner)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
}

// testRedaction checks what a removal needs of a store: ContentEvents
// finds the events that carry a message's content (of one message, or of
// all before a seq) and no other; RedactEvent rewrites one in place,
// keeping its seq and id, after which ContentEvents skips it; and the
// tombstones DeleteMessage leaves outlive a prune of everything, and are
// seen by a second store instance.
func testRedaction(t *testing.T, h Harness) {
	st := h.Open(t)
	cid := "team:redact"
	createChannel(t, st, cid, "ann")
	msg := func(id string) *protocol.Message {
		return &protocol.Message{ID: id, CID: cid, UserID: "ann", Text: "text of " + id}
	}
	// seq: 1 m1 new, 2 member, 3 m2 new, 4 reaction on m1, 5 m1 hard delete, 6 m2 updated
	kinds := []protocol.Event{
		{Type: protocol.EventMessageNew, Message: msg("m1")},
		{Type: protocol.EventMemberAdded, Member: &protocol.Member{CID: cid, UserID: "ann"}},
		{Type: protocol.EventMessageNew, Message: msg("m2")},
		{Type: protocol.EventReactionNew, Message: msg("m1"), Reaction: &protocol.Reaction{MessageID: "m1", CID: cid, UserID: "ann", Type: "like"}},
		{Type: protocol.EventMessageDeleted, HardDelete: true, Message: protocol.RemovedMessage(msg("m1"))},
		{Type: protocol.EventMessageUpdated, Message: msg("m2")},
	}
	ids := map[int64]string{}
	if err := st.Update(ctx, func(tx server.Tx) error {
		for _, k := range kinds {
			id := newID("ev")
			pos, err := tx.NextPosition(cid, id)
			if err != nil {
				return err
			}
			k.ID, k.CID, k.Seq, k.Epoch, k.CreatedAt = id, cid, pos.Seq, pos.Epoch, tx.Now()
			if err := tx.AppendEvent(k); err != nil {
				return err
			}
			ids[pos.Seq] = id
		}
		for _, id := range []string{"m1", "m2"} {
			m := *msg(id)
			m.Version = 1
			if err := tx.PutMessage(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seqs := func(evs []server.StoredEvent) []int64 {
		var out []int64
		for _, e := range evs {
			out = append(out, e.Seq)
			if e.ID != ids[e.Seq] {
				t.Errorf("event at seq %d has id %s, want %s", e.Seq, e.ID, ids[e.Seq])
			}
		}
		return out
	}
	content := func(messageID string, after, before int64, limit int) []int64 {
		t.Helper()
		var got []int64
		if err := st.View(ctx, func(tx server.Tx) error {
			evs, err := tx.ContentEvents(cid, messageID, after, before, limit)
			got = seqs(evs)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, c := range []struct {
		messageID     string
		after, before int64
		limit         int
		want          []int64
	}{
		{"", 0, 100, 100, []int64{1, 3, 4, 6}},
		{"", 0, 6, 100, []int64{1, 3, 4}},
		{"", 1, 6, 1, []int64{3}},
		{"m1", 0, 100, 100, []int64{1, 4}},
		{"m1", 1, 100, 100, []int64{4}},
		{"m2", 0, 6, 100, []int64{3}},
		{"m3", 0, 100, 100, nil},
	} {
		if got := content(c.messageID, c.after, c.before, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("ContentEvents(%q, %d, %d, %d) = %v, want %v", c.messageID, c.after, c.before, c.limit, got, c.want)
		}
	}

	redacted := []byte(`{"id":"x","type":"message.new","redacted":true}`)
	if err := st.Update(ctx, func(tx server.Tx) error {
		if err := tx.RedactEvent(cid, 1, redacted); err != nil {
			return err
		}
		return tx.DeleteMessage("m1")
	}); err != nil {
		t.Fatal(err)
	}
	if got := content("", 0, 100, 100); !slices.Equal(got, []int64{3, 4, 6}) {
		t.Errorf("after a redaction, ContentEvents = %v, want [3 4 6]", got)
	}
	if err := st.View(ctx, func(tx server.Tx) error {
		evs, err := tx.ChannelEvents(cid, 0, 100)
		if err != nil {
			return err
		}
		if len(evs) != len(kinds) || evs[0].Seq != 1 || evs[0].ID != ids[1] || string(evs[0].Payload) != string(redacted) {
			return fmt.Errorf("the log after a redaction: %d events, first %d %s %s", len(evs), evs[0].Seq, evs[0].ID, evs[0].Payload)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := st.Prune(ctx, time.Now().Add(24*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range []server.Store{st, h.OpenAgain(t, st)} {
		if err := s.View(ctx, func(tx server.Tx) error {
			got, err := tx.RemovedMessages([]string{"m1", "m2", "m3"})
			if err != nil || !slices.Equal(got, []string{"m1"}) {
				return fmt.Errorf("RemovedMessages after a prune = %v, %v, want [m1]", got, err)
			}
			if _, err := tx.Message("m1"); !errors.Is(err, server.ErrNotFound) {
				return fmt.Errorf("the deleted message: %v, want ErrNotFound", err)
			}
			got, err = tx.RemovedMessages(nil)
			if err != nil || len(got) != 0 {
				return fmt.Errorf("RemovedMessages(nil) = %v, %v", got, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
