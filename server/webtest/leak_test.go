package webtest_test

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestEvents_ThousandStreamsLeaveNothing opens 1,000 streams, half of
// them resuming with a replay, and drops each one: afterwards the server
// holds no stream, and goroutines and heap are back where they started.
func TestEvents_ThousandStreamsLeaveNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob")
	for i := range 50 {
		sendMsg(t, ts, "alice", cid, fmt.Sprintf("m%d", i), msgText(i))
	}
	end := logEnd(t, ts, "bob", cid)
	from := at(cid, end.Epoch, end.Seq-50)
	tok := tokenFor(t, "bob")

	settle := func() (goroutines int, heap uint64) {
		http.DefaultClient.CloseIdleConnections()
		waitFor(t, 10*time.Second, "streams to close", func() bool { return metric(t, ts, "outpost_sse_connections") == 0 })
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	g0, h0 := settle()

	const n, parallel = 1000, 50
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			headers := []string{"Authorization", "Bearer " + tok}
			if i%2 == 1 {
				headers = append(headers, "Last-Event-ID", from)
			}
			c := openStream(t, ts, "cid="+cid, headers...)
			if i%4 == 3 {
				c.Close() // dropped at once, mid-replay
				return
			}
			c.next(t)
			c.Close()
		}()
	}
	wg.Wait()

	var g1 int
	waitFor(t, 10*time.Second, "goroutines to drain", func() bool {
		g1, _ = settle()
		return g1 <= g0+2
	})
	_, h1 := settle()
	t.Logf("%d streams: goroutines %d -> %d, heap %d KiB -> %d KiB", n, g0, g1, h0>>10, h1>>10)
	if h1 > h0+(8<<20) {
		t.Errorf("heap grew by %d KiB over %d streams", (h1-h0)>>10, n)
	}
}
