package server_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// bulkRecords is how many records TestRecords_BulkImport imports:
// OUTPOST_BULK_RECORDS, 5,000 unless set (CI sets 100,000 in a step of
// its own).
func bulkRecords(tb testing.TB) int {
	if v := os.Getenv("OUTPOST_BULK_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("OUTPOST_BULK_RECORDS=%q: want a positive number", v)
		}
		return n
	}
	return 5000
}

// TestRecords_BulkImport imports records through POST /batch under the
// default rate limits, in full batches (none throttled: a batch costs one
// write of the limit), and logs the rate; then a member pages through the
// channel's whole state while the node's heap is watched. The rate is a
// figure for docs/BENCHMARKS.md, not a pass mark: machines here are noisy.
func TestRecords_BulkImport(t *testing.T) {
	total := bulkRecords(t)
	ts := startServer(t, func(c *server.Config) { c.WritesPerSecond, c.WriteBurst = 0, 0 }) // the defaults
	cid := createChannel(t, ts, "owner", "bulk", "reader").Channel.CID
	body := strings.Repeat("y", 100)
	start := time.Now()
	for i := 0; i < total; i += protocol.MaxBatchOps {
		var b strings.Builder
		b.WriteString(`{"ops":[`)
		for j := i; j < min(i+protocol.MaxBatchOps, total); j++ {
			if j > i {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"create-record","key":"imp-%d","cid":%q,"collection":"items","record_id":"i%06d","body":{"fields":{"n":%d,"body":%q}}}`,
				j, cid, j, j, body)
		}
		b.WriteString(`]}`)
		var res protocol.BatchResponse
		ts.must(t, "owner", "POST", protocol.PathBatch, b.String(), &res)
		for k, r := range res.Results {
			if r.Error != nil {
				t.Fatalf("record %d: %v", i+k, r.Error)
			}
		}
	}
	took := time.Since(start)
	t.Logf("imported %d records in %v (%.0f records/s)", total, took.Round(time.Millisecond), float64(total)/took.Seconds())

	// The reader pages the whole state; the heap is sampled meanwhile.
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	peak := make(chan uint64, 1)
	go func() {
		var max uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			max = maxU(max, m.HeapInuse)
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	got, after := 0, ""
	for {
		path := "/channels/" + cid + "/records?limit=2000"
		if after != "" {
			path += "&after=" + after
		}
		var page protocol.RecordsResponse
		ts.must(t, "reader", "GET", path, nil, &page)
		got += len(page.Records)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	close(done)
	p := <-peak
	t.Logf("served %d records; heap in use %d MiB before, %d MiB at most while serving (test client included)",
		got, before.HeapInuse>>20, p>>20)
	if got != total {
		t.Fatalf("paged %d records, want %d", got, total)
	}
	if p > before.HeapInuse+256<<20 {
		t.Errorf("heap grew by %d MiB while serving the state", (p-before.HeapInuse)>>20)
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
