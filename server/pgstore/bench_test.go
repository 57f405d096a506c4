package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/internal/sysres"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/server/storetest"
)

// BenchmarkPGWrites: message sends per second over HTTP through 1 node
// and through 3 nodes (in this process, each with its own pool) on one
// Postgres, all to one hot channel or spread over 1,000 channels; and
// the single SQLite node in the same run, for scale.
func BenchmarkPGWrites(b *testing.B) {
	for _, channels := range []int{1, 1000} {
		b.Run(fmt.Sprintf("sqlite/nodes=1/channels=%d", channels), func(b *testing.B) {
			benchSends(b, []node{sqliteNode(b)}, channels)
		})
		for _, n := range []int{1, 3} {
			b.Run(fmt.Sprintf("postgres/nodes=%d/channels=%d", n, channels), func(b *testing.B) {
				benchSends(b, startNodes(b, n), channels)
			})
		}
	}
}

// sqliteNode starts the single SQLite node, the baseline.
func sqliteNode(b testing.TB) node {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler),
		WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1, SendBuffer: 4096})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() { srv.Close(); hs.Close(); st.Close() })
	return node{Server: hs, srv: srv, store: st}
}

func benchSends(b *testing.B, nodes []node, channels int) {
	ctx := context.Background()
	var cids []string
	if err := nodes[0].store.Update(ctx, func(tx server.Tx) error {
		if err := tx.PutUser(protocol.User{ID: "alice", CreatedAt: tx.Now(), UpdatedAt: tx.Now(), Version: 1}); err != nil {
			return err
		}
		for i := range channels {
			cid := fmt.Sprintf("team:c%d", i)
			cids = append(cids, cid)
			if err := tx.PutChannel(protocol.Channel{CID: cid, Type: "team", ID: fmt.Sprintf("c%d", i), CreatedAt: tx.Now(), UpdatedAt: tx.Now(), CreatedBy: "alice"}); err != nil {
				return err
			}
			if err := tx.PutMember(protocol.Member{CID: cid, UserID: "alice", Role: "owner", CreatedAt: tx.Now(), UpdatedAt: tx.Now()}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	tok := tokenFor(b, "alice")
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			via := nodes[int(i)%len(nodes)]
			body, _ := json.Marshal(protocol.SendMessageRequest{Message: protocol.MessageInput{ID: fmt.Sprintf("m%d-%d", i, time.Now().UnixNano()), Text: "hi"}})
			req, _ := http.NewRequest("POST", via.URL+"/channels/"+cids[int(i)%len(cids)]+"/messages", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				b.Errorf("send: %d %s", resp.StatusCode, data)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "sends/s")
}

// BenchmarkCrossNodeFanout connects 1,000 WebSocket clients to one
// channel, spread over 3 nodes on one Postgres, and sends through all
// three in turn: at a steady 20 messages/s (20,000 deliveries/s) it
// reports the delivery latency p50_ms and p99_ms over every client (two
// thirds of them on another node than the write's); then it sends as fast
// as one sender can and reports deliveries/s at saturation. The single
// SQLite node runs the same in the same run.
func BenchmarkCrossNodeFanout(b *testing.B) {
	b.Run("sqlite/nodes=1", func(b *testing.B) { benchFanout(b, []node{sqliteNode(b)}) })
	b.Run("postgres/nodes=3", func(b *testing.B) { benchFanout(b, startNodes(b, 3)) })
}

func benchFanout(b *testing.B, nodes []node) {
	const clients = 1000
	sysres.RaiseFileLimit(4 * clients)
	var ch protocol.ChannelResponse
	nodes[0].must(b, "alice", "POST", protocol.PathChannels, protocol.CreateChannelRequest{Type: "team", ID: "all"}, &ch)
	cid := ch.Channel.CID
	users := make([]string, clients)
	for i := range users {
		users[i] = fmt.Sprintf("u%04d", i)
	}
	for i := 0; i < clients; i += 100 {
		nodes[0].must(b, "alice", "POST", "/channels/"+cid+"/members", protocol.AddMembersRequest{UserIDs: users[i : i+100]}, nil)
	}
	var sentAt sync.Map // message id -> time.Time
	var mu sync.Mutex
	var latencies []time.Duration
	var delivered, cut atomic.Int64
	var measure atomic.Bool
	measure.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, 0, clients)
	for i, u := range users {
		n := nodes[i%len(nodes)]
		url := "ws" + strings.TrimPrefix(n.URL, "http") + protocol.PathConnect + "?token=" + tokenFor(b, u)
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		c, _, err := websocket.Dial(dctx, url, nil)
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
	sent := 0
	send := func(id string) {
		sentAt.Store(id, time.Now())
		nodes[sent%len(nodes)].must(b, "alice", "POST", "/channels/"+cid+"/messages",
			protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: "fan me out"}}, nil)
		sent++
	}
	waitDelivered := func(want int64, limit time.Duration) {
		deadline := time.Now().Add(limit)
		for delivered.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling a counter with a deadline
		}
	}
	b.ResetTimer()
	tick := time.NewTicker(50 * time.Millisecond)
	for i := range 100 {
		<-tick.C
		send(fmt.Sprintf("steady%03d", i))
	}
	tick.Stop()
	waitDelivered(100*clients, 20*time.Second)
	measure.Store(false)

	base := delivered.Load()
	start := time.Now()
	n := 0
	for time.Since(start) < 3*time.Second {
		send(fmt.Sprintf("sat%05d", n))
		n++
	}
	waitDelivered(base+int64(n*clients), 30*time.Second)
	elapsed := time.Since(start)
	b.StopTimer()

	mu.Lock()
	slices.Sort(latencies)
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

// BenchmarkSyncPages serves a 100,000-event gap over 100 channels through
// POST /sync pages on loopback, as server's BenchmarkSyncPages does, on
// Postgres and on SQLite in the same run. events/s is events received
// and decoded per second of wall time.
func BenchmarkSyncPages(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchSyncPages(b, sqliteNode(b)) })
	b.Run("postgres", func(b *testing.B) { benchSyncPages(b, startNodes(b, 1)[0]) })
}

func benchSyncPages(b *testing.B, n node) {
	const events, channels = 100_000, 100
	start0 := map[string]protocol.Position{}
	var cids []string
	for i := range channels {
		var ch protocol.ChannelResponse
		n.must(b, "alice", "POST", protocol.PathChannels, protocol.CreateChannelRequest{Type: "team", ID: fmt.Sprintf("c%03d", i), Members: []string{"bob"}}, &ch)
		start0[ch.Channel.CID] = *ch.Position
		cids = append(cids, ch.Channel.CID)
	}
	if err := storetest.AppendMessages(context.Background(), n.store, cids, 0, events); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	pages, got := 0, 0
	for range b.N {
		positions := maps.Clone(start0)
		var feed *protocol.Position
		for {
			req := protocol.SyncRequest{Version: protocol.Version, Feed: feed, Channels: []protocol.ChannelPosition{}}
			for cid, p := range positions {
				req.Channels = append(req.Channels, protocol.ChannelPosition{CID: cid, Position: p})
			}
			var resp protocol.SyncResponse
			n.must(b, "bob", "POST", protocol.PathSync, req, &resp)
			pages++
			got += len(resp.Events)
			fp := resp.Feed.Position
			feed = &fp
			for _, cs := range resp.Channels {
				if cs.Status != protocol.ChannelOK {
					b.Fatalf("%s: %s %s", cs.CID, cs.Status, cs.Reason)
				}
				positions[cs.CID] = *cs.Position
			}
			if !resp.More {
				break
			}
		}
	}
	b.StopTimer()
	if got < b.N*events {
		b.Fatalf("synced %d events, want %d", got, b.N*events)
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(pages)/float64(b.N), "pages")
}
