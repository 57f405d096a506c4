package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
)

// TestManyWritersOnSeveralPools: 16 writers on 4 pools (4 nodes) append
// to one hot channel and three others, two thirds of the writes taking
// two channels (in either order) and some a feed too, while a reader on each pool follows every channel
// from its position. Every event is written once, each log numbered from
// 1 with no gap, and every reader sees each event once, in seq order.
func TestManyWritersOnSeveralPools(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	var stores []server.Store
	for range 4 {
		stores = append(stores, open(t, dsn))
	}
	cids := []string{"team:hot", "team:b", "team:c", "team:d"}
	if err := stores[0].Update(ctx, func(tx server.Tx) error {
		for _, cid := range cids {
			typ, id, _ := protocol.SplitCID(cid)
			if err := tx.PutChannel(protocol.Channel{CID: cid, Type: typ, ID: id, CreatedAt: tx.Now()}); err != nil {
				return err
			}
			if err := tx.PutMember(protocol.Member{CID: cid, UserID: "reader"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const writers, writes = 16, 30
	var wg sync.WaitGroup
	errc := make(chan error, writers+len(stores))
	var mu sync.Mutex
	written := map[string]string{} // event id -> cid/seq
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%len(stores)]
			for i := range writes {
				var evs []protocol.Event
				err := st.Update(ctx, func(tx server.Tx) error {
					evs = evs[:0]
					targets := []string{"team:hot"}
					switch {
					case i%3 == 1:
						targets = []string{cids[1+(w+i)%3], "team:hot"}
					case i%3 == 2 && w == 0:
						// The other order: it may deadlock with another
						// write, and Update runs the one Postgres aborts
						// again. (Each deadlock costs deadlock_timeout,
						// 1s, before Postgres breaks it: kept rare.)
						targets = []string{"team:hot", cids[1+(w+i)%3]}
					}
					for _, cid := range targets {
						id := fmt.Sprintf("w%d-%d-%s", w, i, cid)
						pos, err := tx.NextPosition(cid, id)
						if err != nil {
							return err
						}
						ev := protocol.Event{ID: id, Type: protocol.EventMessageRead, CID: cid, Seq: pos.Seq, Epoch: pos.Epoch, CreatedAt: tx.Now()}
						if err := tx.AppendEvent(ev); err != nil {
							return err
						}
						evs = append(evs, ev)
					}
					if i%5 == 0 {
						id := fmt.Sprintf("f%d-%d", w, i)
						pos, err := tx.NextFeedPosition("reader", id)
						if err != nil {
							return err
						}
						return tx.AppendFeedEvent("reader", protocol.Event{ID: id, Type: protocol.EventNotificationAddedToChannel,
							CID: "team:hot", Seq: pos.Seq, Epoch: pos.Epoch, CreatedAt: tx.Now()})
					}
					return nil
				})
				if err != nil {
					errc <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				mu.Lock()
				for _, ev := range evs {
					if _, dup := written[ev.ID]; dup {
						errc <- fmt.Errorf("%s written twice", ev.ID)
					}
					written[ev.ID] = fmt.Sprintf("%s/%d", ev.CID, ev.Seq)
				}
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := make([]map[string]string, len(stores)) // per reader: cid/seq -> id
	var rwg sync.WaitGroup
	for r, st := range stores {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			pos := map[string]int64{}
			got := map[string]string{}
			defer func() { seen[r] = got }()
			for final := false; ; {
				select {
				case <-done:
					final = true
				default:
				}
				err := st.View(ctx, func(tx server.Tx) error {
					logs, err := tx.ChannelLogs("reader")
					if err != nil {
						return err
					}
					for _, l := range logs {
						for pos[l.Key] < l.LastSeq {
							evs, err := tx.ChannelEvents(l.Key, pos[l.Key], 50)
							if err != nil {
								return err
							}
							if len(evs) == 0 {
								return fmt.Errorf("%s: nothing after %d, log at %d", l.Key, pos[l.Key], l.LastSeq)
							}
							for _, e := range evs {
								if e.Seq != pos[l.Key]+1 {
									return fmt.Errorf("%s: seq %d after %d", l.Key, e.Seq, pos[l.Key])
								}
								k := fmt.Sprintf("%s/%d", l.Key, e.Seq)
								if _, dup := got[k]; dup {
									return fmt.Errorf("%s seen twice", k)
								}
								got[k] = e.ID
								pos[l.Key] = e.Seq
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
	want := writers*writes + writers*(writes/3) + writes/3
	if len(written) != want {
		t.Fatalf("%d events written, want %d", len(written), want)
	}
	for r, got := range seen {
		if len(got) != len(written) {
			t.Errorf("reader %d saw %d events, want %d", r, len(got), len(written))
		}
		for id, place := range written {
			if got[place] != id {
				t.Errorf("reader %d: %s holds %q, want %q", r, place, got[place], id)
				break
			}
		}
	}
	if err := stores[1].View(ctx, func(tx server.Tx) error {
		fl, err := tx.FeedLog("reader")
		if err != nil {
			return err
		}
		evs, err := tx.FeedEvents("reader", 0, 1000)
		if err != nil {
			return err
		}
		if int64(len(evs)) != fl.LastSeq || fl.LastSeq != writers*((writes+4)/5) {
			return fmt.Errorf("feed: %d events, log %+v", len(evs), fl)
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				return fmt.Errorf("feed seq %d at %d", e.Seq, i)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
