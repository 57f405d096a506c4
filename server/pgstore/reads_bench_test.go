package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server/pgstore"
)

// qLockWaiters counts the database's sessions waiting on a lock (a row
// lock shows as a wait on the holder's transaction id).
const qLockWaiters = `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`

// BenchmarkReadReceipts measures read receipts on one busy channel of one
// Postgres node, over HTTP: 8 senders alone, 8 readers (each its own
// user) marking the channel read alone, and both at once, each for a
// fixed window. A read receipt is a log event of the channel, so it
// takes the channel's counter row like a send: if the two serialise,
// sends/s + reads/s at once stays near the rate of either alone.
// lock-waiters is the mean number of sessions seen waiting on a lock.
func BenchmarkReadReceipts(b *testing.B) {
	const window = 3 * time.Second
	for _, mix := range []struct {
		name            string
		senders, reader int
	}{{"sends", 8, 0}, {"reads", 0, 8}, {"sends+reads", 8, 8}} {
		b.Run(mix.name, func(b *testing.B) {
			n := startNodes(b, 1)[0]
			readers := make([]string, 8)
			for i := range readers {
				readers[i] = fmt.Sprintf("r%d", i)
			}
			n.must(b, "alice", "POST", protocol.PathChannels, protocol.CreateChannelRequest{Type: "team", ID: "busy", Members: readers}, nil)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			post := func(user, path string, body any) error {
				data, _ := json.Marshal(body)
				req, _ := http.NewRequest("POST", n.URL+path, bytes.NewReader(data))
				req.Header.Set("Authorization", "Bearer "+tokenFor(b, user))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, out)
				}
				return nil
			}
			b.ResetTimer()
			for range b.N {
				var sends, reads atomic.Int64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				worker := func(count *atomic.Int64, do func(i int64) error) {
					defer wg.Done()
					for i := int64(0); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						if err := do(i); err != nil {
							b.Error(err)
							return
						}
						count.Add(1)
					}
				}
				for w := range mix.senders {
					wg.Add(1)
					go worker(&sends, func(i int64) error {
						id := fmt.Sprintf("s%d-%d-%d", w, i, time.Now().UnixNano())
						return post("alice", "/channels/team:busy/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: "hi"}})
					})
				}
				for w := range mix.reader {
					wg.Add(1)
					go worker(&reads, func(int64) error {
						return post(readers[w], "/channels/team:busy/read", protocol.MarkReadRequest{})
					})
				}
				// Sample how many of the node's sessions wait on a lock.
				pool := n.store.(*pgstore.Store).Pool()
				var samples, waiting int
				start := time.Now()
				for time.Since(start) < window {
					var w int
					if err := pool.QueryRow(context.Background(), qLockWaiters).Scan(&w); err != nil {
						b.Fatal(err)
					}
					samples++
					waiting += w
					time.Sleep(10 * time.Millisecond) // the sampling period
				}
				close(stop)
				wg.Wait()
				b.ReportMetric(float64(waiting)/float64(samples), "lock-waiters")
				secs := time.Since(start).Seconds()
				b.ReportMetric(float64(sends.Load())/secs, "sends/s")
				b.ReportMetric(float64(reads.Load())/secs, "reads/s")
			}
		})
	}
}
