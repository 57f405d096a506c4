package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// BenchmarkColdOpen opens a store holding many messages (100,000 over 100
// channels; OUTPOST_BENCH_OPEN_PAGES sets pages of 1,000) and reads what an
// app shows first: the channel list and the latest page of one channel.
// Interleaved in the same run, the raw floor opens the same file with
// plain database/sql and runs the same two queries. open_ms is the SDK's
// time per open and first read; raw_ratio is raw time over SDK time (1 is
// as fast as raw).
func BenchmarkColdOpen(b *testing.B) {
	ctx := context.Background()
	pages := 100
	if v := os.Getenv("OUTPOST_BENCH_OPEN_PAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("OUTPOST_BENCH_OPEN_PAGES=%q: want a positive count", v)
		}
		pages = n
	}
	path := filepath.Join(b.TempDir(), "big.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	// The channels' states first, as a first sync fetches them: a page's
	// events alone leave a channel the store has no state of unlisted.
	var states []protocol.ChannelResponse
	for c := range benchChannels {
		id := fmt.Sprintf("ch%03d", c)
		states = append(states, protocol.ChannelResponse{
			Channel:  protocol.Channel{CID: "messaging:" + id, Type: "messaging", ID: id, Name: id, CreatedAt: t0, UpdatedAt: t0},
			Position: &protocol.Position{Epoch: "e"}})
	}
	if err := db.ApplyChannelStates(ctx, states, nil); err != nil {
		b.Fatal(err)
	}
	for p := range pages {
		applyPageSDK(b, ctx, db, benchPage(p))
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	info, _ := os.Stat(path)

	var sdkTime, rawTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		db, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		chs, err := db.Channels(ctx, store.ChannelsQuery{})
		if err != nil || len(chs) == 0 {
			b.Fatal(err, len(chs))
		}
		ms, err := db.Messages(ctx, chs[0].CID, store.MessagesQuery{})
		if err != nil || len(ms) == 0 {
			b.Fatal(err, len(ms))
		}
		db.Close()
		sdkTime += time.Since(start)

		start = time.Now()
		raw, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)")
		if err != nil {
			b.Fatal(err)
		}
		var cids []string
		if err := raw.SelectContext(ctx, &cids, `SELECT cid FROM channels ORDER BY coalesce(last_message_at, 0) DESC, cid LIMIT 20`); err != nil || len(cids) == 0 {
			b.Fatal(err)
		}
		var texts []string
		if err := raw.SelectContext(ctx, &texts, `SELECT text FROM messages WHERE cid = ? AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 50`, cids[0]); err != nil || len(texts) == 0 {
			b.Fatal(err)
		}
		raw.Close()
		rawTime += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(sdkTime.Microseconds())/1000/float64(b.N), "open_ms")
	b.ReportMetric(float64(rawTime.Microseconds())/1000/float64(b.N), "raw_open_ms")
	b.ReportMetric(rawTime.Seconds()/sdkTime.Seconds(), "raw_ratio")
	b.ReportMetric(float64(info.Size())/(1<<20), "db_MB")
}
