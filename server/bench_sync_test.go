package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server/storetest"
)

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
	if err := storetest.AppendMessages(context.Background(), ts.store, cids, 0, events); err != nil {
		b.Fatal(err)
	}
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
