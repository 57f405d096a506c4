package server_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// BenchmarkFanout connects 1,000 WebSocket clients to one channel over
// loopback. At a steady 20 messages/s (20,000 deliveries/s) it reports the
// delivery latency p50_ms and p99_ms; then it sends as fast as it can and
// reports deliveries/s at saturation.
func BenchmarkFanout(b *testing.B) {
	const clients = 1000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 4*clients {
		lim.Cur = min(lim.Max, 4*clients)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	ts := startServer(b, func(c *server.Config) { c.SendBuffer = 4096 })
	cid := createChannel(b, ts, "alice", "all").Channel.CID
	users := make([]string, clients)
	for i := range users {
		users[i] = fmt.Sprintf("u%04d", i)
	}
	for i := 0; i < clients; i += 100 {
		ts.must(b, "alice", "POST", "/channels/"+cid+"/members", protocol.AddMembersRequest{UserIDs: users[i : i+100]}, nil)
	}

	var sentAt sync.Map // message id -> time.Time
	var mu sync.Mutex
	var latencies []time.Duration
	var delivered, cut atomic.Int64
	measure := atomic.Bool{}
	measure.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, 0, clients)
	url := "ws" + ts.URL[len("http"):] + protocol.PathConnect + "?token="
	for _, u := range users {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		c, _, err := websocket.Dial(dctx, url+tokenFor(b, u), nil)
		dcancel()
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
						cut.Add(1)
					}
					return
				}
				now := time.Now()
				ev, err := protocol.DecodeEvent(data)
				if err != nil || ev.Type != protocol.EventMessageNew {
					continue
				}
				delivered.Add(1)
				if measure.Load() {
					if t, ok := sentAt.Load(ev.Message.ID); ok {
						mu.Lock()
						latencies = append(latencies, now.Sub(t.(time.Time)))
						mu.Unlock()
					}
				}
			}
		}()
	}
	defer func() {
		cancel()
		for _, c := range conns {
			c.CloseNow()
		}
		wg.Wait()
	}()
	send := func(id string) {
		sentAt.Store(id, time.Now())
		ts.must(b, "alice", "POST", "/channels/"+cid+"/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: "fan me out"}}, nil)
	}
	waitDelivered := func(want int64, limit time.Duration) {
		deadline := time.Now().Add(limit)
		for delivered.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling a counter with a deadline
		}
	}

	b.ResetTimer()
	// Steady phase: 20 messages a second for 5 seconds.
	tick := time.NewTicker(50 * time.Millisecond)
	for i := 0; i < 100; i++ {
		<-tick.C
		send(fmt.Sprintf("steady%03d", i))
	}
	tick.Stop()
	waitDelivered(100*clients, 10*time.Second)
	measure.Store(false)

	// Saturation: send as fast as one sender can for 3 seconds.
	base := delivered.Load()
	start := time.Now()
	n := 0
	for time.Since(start) < 3*time.Second {
		send(fmt.Sprintf("sat%05d", n))
		n++
	}
	waitDelivered(base+int64(n*clients), 20*time.Second)
	elapsed := time.Since(start)
	b.StopTimer()

	mu.Lock()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(len(latencies)), "steady_deliveries")
	mu.Unlock()
	b.ReportMetric(float64(delivered.Load()-base)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "sat_msgs/s")
	b.ReportMetric(float64(cut.Load()), "cut_off")
}
