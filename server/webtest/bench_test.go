package webtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// fillChannel writes n messages to cid in batches of MaxBatchOps.
func fillChannel(b *testing.B, ts *testServer, user, cid string, n int) {
	b.Helper()
	for done := 0; done < n; {
		var req protocol.BatchRequest
		for ; done < n && len(req.Ops) < protocol.MaxBatchOps; done++ {
			body, _ := json.Marshal(protocol.SendMessageRequest{Message: protocol.MessageInput{
				ID: fmt.Sprintf("fill%d", done), Text: fmt.Sprintf("replayed message number %d", done)}})
			req.Ops = append(req.Ops, protocol.BatchOp{Type: protocol.OpSendMessage, CID: cid, Body: body})
		}
		ts.must(b, user, "POST", protocol.PathBatch, req, nil)
	}
}

// BenchmarkSSEReplay: a client reconnects with a Last-Event-ID 10,000
// events back and reads the replay to its end. The baseline, in the same
// run, reads the same events straight from the store in the replay's
// pages: the ratio is what HTTP, framing and the client cost on top.
func BenchmarkSSEReplay(b *testing.B) {
	const events = 10000
	ts := startServer(b, nil)
	cid := createChannel(b, ts, "alice", "general")
	end := logEnd(b, ts, "alice", cid)
	from := end.Seq
	fillChannel(b, ts, "alice", cid, events)
	want := at(cid, end.Epoch, from+events)
	tok := tokenFor(b, "alice")

	var sseTime, storeTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		req, _ := http.NewRequest("GET", ts.URL+protocol.PathEvents, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Last-Event-ID", at(cid, end.Epoch, from))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		n := 0
		for sc.Scan() {
			if id, ok := bytes.CutPrefix(sc.Bytes(), []byte("id: ")); ok {
				n++
				if string(id) == want {
					break
				}
			}
		}
		resp.Body.Close()
		if n != events {
			b.Fatalf("replayed %d events, want %d", n, events)
		}
		sseTime += time.Since(start)

		start = time.Now()
		got := 0
		for after := from; got < events; {
			err := ts.store.View(context.Background(), func(tx server.Tx) error {
				evs, err := tx.ChannelEvents(cid, after, 500)
				got += len(evs)
				if len(evs) > 0 {
					after = evs[len(evs)-1].Seq
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		storeTime += time.Since(start)
	}
	b.StopTimer()
	sseRate := float64(events*b.N) / sseTime.Seconds()
	storeRate := float64(events*b.N) / storeTime.Seconds()
	b.ReportMetric(sseRate, "sse-events/s")
	b.ReportMetric(storeRate, "store-events/s")
	b.ReportMetric(sseRate/storeRate, "sse/store")
	b.ReportMetric(0, "ns/op")
}

// fanoutClient is one subscriber of the fan-out benchmark: it records,
// per message, the delay from the send to its arrival.
type fanoutClient struct {
	lat []time.Duration
}

// sentAt reads the send time the benchmark put in a message's text.
func sentAt(data []byte) (time.Time, bool) {
	i := bytes.Index(data, []byte(`"text":"t=`))
	if i < 0 {
		return time.Time{}, false
	}
	rest := data[i+len(`"text":"t=`):]
	j := bytes.IndexByte(rest, '"')
	ns, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// BenchmarkSSEFanout: 1,000 SSE clients of one channel while a writer
// sends 20 messages a second; then, in the same run, 1,000 WebSocket
// clients the same way: the baseline. Reports p50 and p99 delivery delay
// of each and the ratio of the p99s.
func BenchmarkSSEFanout(b *testing.B) {
	const clients, rate, perIter = 1000, 20, 40
	ts := startServer(b, func(c *server.Config) { c.SendBuffer = 1024 })
	cid := createChannel(b, ts, "alice", "general", "bob")
	tok := tokenFor(b, "bob")
	send := func(prefix string, n int) {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := range n {
			<-tick.C
			sendMsg(b, ts, "alice", cid, fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("t=%d", time.Now().UnixNano()))
		}
	}

	// run connects the clients with dial (which returns once a client is
	// subscribed, and a loop reading its events), sends, waits for every
	// delivery and returns all the delays.
	run := func(prefix string, n int, dial func(ctx context.Context, c *fanoutClient, got func()) (func(), error)) []time.Duration {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		all := make([]*fanoutClient, clients)
		var mu sync.Mutex
		delivered := 0
		done := make(chan struct{})
		got := func() {
			mu.Lock()
			delivered++
			if delivered == clients*n {
				close(done)
			}
			mu.Unlock()
		}
		sem := make(chan struct{}, 50)
		for i := range clients {
			c := &fanoutClient{}
			all[i] = c
			sem <- struct{}{}
			loop, err := dial(ctx, c, got)
			<-sem
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() { defer wg.Done(); loop() }()
		}
		send(prefix, n)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			b.Fatalf("%s: %d of %d deliveries", prefix, delivered, clients*n)
		}
		cancel()
		wg.Wait()
		var lat []time.Duration
		for _, c := range all {
			lat = append(lat, c.lat...)
		}
		return lat
	}

	sseDial := func(ctx context.Context, c *fanoutClient, got func()) (func(), error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+protocol.PathEvents+"?cid="+cid, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		br := bufio.NewReader(resp.Body)
		for { // subscribed once the first reset arrives
			line, err := br.ReadSlice('\n')
			if err != nil {
				return nil, err
			}
			if bytes.HasPrefix(line, []byte("event: reset")) {
				break
			}
		}
		return func() {
			defer resp.Body.Close()
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if at, ok := sentAt(line); ok {
					c.lat = append(c.lat, time.Since(at))
					got()
				}
			}
		}, nil
	}
	wsDial := func(ctx context.Context, c *fanoutClient, got func()) (func(), error) {
		url := "ws" + ts.URL[len("http"):] + protocol.PathConnect
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
		if err != nil {
			return nil, err
		}
		ws.SetReadLimit(1 << 20)
		if _, _, err := ws.Read(ctx); err != nil { // health.check: subscribed
			return nil, err
		}
		return func() {
			defer ws.CloseNow()
			for {
				_, data, err := ws.Read(ctx)
				if err != nil {
					return
				}
				if at, ok := sentAt(data); ok {
					c.lat = append(c.lat, time.Since(at))
					got()
				}
			}
		}, nil
	}

	var sseLat, wsLat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		sseLat = append(sseLat, run(fmt.Sprintf("sse%d-", i), perIter, sseDial)...)
		wsLat = append(wsLat, run(fmt.Sprintf("ws%d-", i), perIter, wsDial)...)
	}
	b.StopTimer()
	pct := func(l []time.Duration, p float64) float64 {
		slices.Sort(l)
		return float64(l[int(float64(len(l)-1)*p)].Microseconds()) / 1000
	}
	sse50, sse99, ws50, ws99 := pct(sseLat, .5), pct(sseLat, .99), pct(wsLat, .5), pct(wsLat, .99)
	b.ReportMetric(sse50, "sse-p50-ms")
	b.ReportMetric(sse99, "sse-p99-ms")
	b.ReportMetric(ws50, "ws-p50-ms")
	b.ReportMetric(ws99, "ws-p99-ms")
	b.ReportMetric(sse99/ws99, "p99-sse/ws")
	b.ReportMetric(0, "ns/op")
}
