package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

// BenchmarkPGWrites: message sends per second over HTTP through 1 node
// and through 3 nodes (in this process, each with its own pool) on one
// Postgres, all to one hot channel or spread over 1,000 channels; and
// the single SQLite node in the same run, for scale.
func BenchmarkPGWrites(b *testing.B) {
	for _, channels := range []int{1, 1000} {
		b.Run(fmt.Sprintf("sqlite/nodes=1/channels=%d", channels), func(b *testing.B) {
			st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler),
				WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1})
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(srv)
			b.Cleanup(func() { srv.Close(); hs.Close(); st.Close() })
			benchSends(b, []node{{Server: hs, srv: srv, store: st}}, channels)
		})
		for _, n := range []int{1, 3} {
			b.Run(fmt.Sprintf("postgres/nodes=%d/channels=%d", n, channels), func(b *testing.B) {
				benchSends(b, startNodes(b, n), channels)
			})
		}
	}
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
