package outpost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/internal/sysres"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

// BenchmarkFirstSyncHistory: a new device (Bob, a fresh store) opens on a
// server where a channel he is a member of holds N messages
// (OUTPOST_BENCH_EVENTS, 100,000 by default), under HistoryFull.
// Measured: from Open until the store holds the channel's whole history,
// all N messages. peak_heap_MB is the process's peak HeapInuse meanwhile
// (the in-process server included), sampled every 5 ms.
//
// In the same run it measures the floor (floor_messages/s): the same
// messages as the history pages the SDK asks for (newest first, of
// protocol.HistoryPageMax), held in memory as the server's JSON, decoded
// with encoding/json and written with one prepared upsert a row, one
// transaction a page (floorApply); no server, no network, no held range,
// no guards. floor_ratio is the first sync's rate over the floor's.
func BenchmarkFirstSyncHistory(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) { benchFirstSyncHistory(b, n) })
	}
}

func benchFirstSyncHistory(b *testing.B, n int) {
	ctx := context.Background()
	ts, st, _ := benchServer(b)
	alice := benchREST(b, ts.URL, "alice")
	cid := benchChannelsFor(b, alice, "fh", 1)[0]
	insertGap(b, st, []string{cid}, 0, n)

	var elapsed, cpu time.Duration
	var peak, base uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base = max(base, ms.HeapInuse)
		sampler := startHeapSampler(5 * time.Millisecond)
		path := filepath.Join(b.TempDir(), fmt.Sprintf("bob-%d.db", i))
		b.StartTimer()

		start, cpu0 := time.Now(), sysres.CPUTime()
		bob := openConfig(b, ts.URL, "bob", path, func(cfg *outpost.Config) { cfg.ConnectTimeout = -1 })
		deadline := start.Add(10 * time.Minute)
		for {
			ch, err := outpost.StoreOf(bob).Channel(ctx, cid)
			if err == nil && ch.HistoryComplete {
				break
			}
			if time.Now().After(deadline) {
				sampler.Stop()
				b.Fatalf("the first sync of %d messages did not finish: %+v", n, outpost.ManagerOf(bob).Status())
			}
			time.Sleep(2 * time.Millisecond) // polling a condition with a deadline
		}
		elapsed += time.Since(start)
		cpu += sysres.CPUTime() - cpu0

		b.StopTimer()
		peak = max(peak, sampler.Stop())
		if got := countMessages(b, bob); got != n {
			b.Fatalf("bob holds %d messages after the first sync, want %d", got, n)
		}
		if err := bob.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(b.N*n) / elapsed.Seconds()
	floor, floorCPU := floorApply(b, historyWire(b, st, cid))
	b.ReportMetric(rate, "messages/s")
	b.ReportMetric(floor, "floor_messages/s")
	b.ReportMetric(rate/floor, "floor_ratio")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu_us/message")
	b.ReportMetric(floorCPU, "floor_cpu_us/message")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MB")
	b.ReportMetric(float64(base)/(1<<20), "base_heap_MB")
}

// historyWire returns cid's messages as the JSON of the history pages the
// SDK asks for: newest first, protocol.HistoryPageMax a page.
func historyWire(b *testing.B, st *sqlitestore.Store, cid string) [][]byte {
	var wire [][]byte
	err := st.View(context.Background(), func(tx server.Tx) error {
		for before := int64(1 << 62); ; {
			ms, err := tx.Messages(cid, server.MessagesPage{Limit: protocol.HistoryPageMax, BeforeSeq: before})
			if err != nil || len(ms) == 0 {
				return err
			}
			data, err := json.Marshal(protocol.HistoryPage{Status: protocol.ChannelOK, Messages: ms})
			if err != nil {
				return err
			}
			wire = append(wire, data)
			before = ms[0].Seq
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return wire
}
