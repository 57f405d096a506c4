package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// fillLog writes n message.new events over cids straight into the store,
// in transactions of 5,000.
func fillLog(b testing.TB, ts *testServer, cids []string, n int) {
	b.Helper()
	for done := 0; done < n; {
		batch := min(5000, n-done)
		err := ts.store.Update(context.Background(), func(tx server.Tx) error {
			for i := 0; i < batch; i++ {
				k := done + i
				cid := cids[k%len(cids)]
				pos, err := tx.NextPosition(cid, fmt.Sprintf("e%07d", k))
				if err != nil {
					return err
				}
				m := protocol.Message{ID: fmt.Sprintf("m%07d", k), CID: cid, UserID: "alice",
					Text: "a message of ordinary length, about as long as people write in chat", CreatedAt: tx.Now(), Version: pos.Seq}
				if err := tx.PutMessage(m); err != nil {
					return err
				}
				if err := tx.AppendEvent(protocol.Event{ID: fmt.Sprintf("e%07d", k), Type: protocol.EventMessageNew, CID: cid, Seq: pos.Seq,
					Epoch: pos.Epoch, CreatedAt: tx.Now(), Message: &m}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += batch
	}
}

// BenchmarkSyncPages serves a 100,000-event gap over 100 channels through
// POST /sync pages on loopback, decoded by the caller as a client would,
// each page asked for from the positions the one before reached.
func BenchmarkSyncPages(b *testing.B) {
	const events, channels = 100_000, 100
	ts := startServer(b, nil)
	start0 := map[string]protocol.Position{}
	for i := 0; i < channels; i++ {
		ch := createChannel(b, ts, "alice", fmt.Sprintf("c%03d", i), "bob")
		start0[ch.Channel.CID] = *ch.Position
	}
	var cids []string
	for cid := range start0 {
		cids = append(cids, cid)
	}
	fillLog(b, ts, cids, events)
	b.ResetTimer()
	start := time.Now()
	pages, got := 0, 0
	for i := 0; i < b.N; i++ {
		res := syncFrom(b, ts, "bob", nil, start0, 0)
		pages += res.pages
		got += len(res.events)
	}
	b.StopTimer()
	if got < b.N*events {
		b.Fatalf("synced %d events, want %d", got, b.N*events)
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(pages)/float64(b.N), "pages")
}
