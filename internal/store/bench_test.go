package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/internal/sysres"
	"github.com/outpostsync/outpost/protocol"
)

const (
	benchPageSize = 1000
	benchChannels = 100
)

// benchPage returns page p as the JSON a sync response carries: message.new
// events spread over benchChannels channels.
func benchPage(p int) []byte {
	resp := protocol.SyncResponse{SyncedAt: at(p + 1), More: true,
		Feed: protocol.FeedPage{Position: protocol.Position{Epoch: "feed", Seq: 1, EventID: "f1"}}}
	last := map[string]protocol.Event{}
	for i := 0; i < benchPageSize; i++ {
		n := p*benchPageSize + i
		cid := fmt.Sprintf("messaging:ch%03d", n%benchChannels)
		seq := int64(n/benchChannels + 1)
		created := t0.Add(time.Duration(n) * time.Millisecond)
		resp.Events = append(resp.Events, protocol.Event{
			ID: fmt.Sprintf("ev%08d", n), Type: protocol.EventMessageNew, CID: cid, Seq: seq, CreatedAt: created,
			Message: &protocol.Message{ID: fmt.Sprintf("msg%08d", n), CID: cid, UserID: "user-" + fmt.Sprint(n%7),
				Text: "a message of ordinary length, about as long as people write in chat", CreatedAt: created,
				UpdatedAt: created, Version: seq},
		})
		last[cid] = resp.Events[len(resp.Events)-1]
	}
	// Events in (cid, seq) order, as the server sends them, each channel
	// with the position the page reaches.
	slices.SortStableFunc(resp.Events, func(a, b protocol.Event) int { return strings.Compare(a.CID, b.CID) })
	for c := 0; c < benchChannels; c++ {
		cid := fmt.Sprintf("messaging:ch%03d", c)
		if ev, ok := last[cid]; ok {
			resp.Channels = append(resp.Channels, protocol.ChannelSync{CID: cid, Status: protocol.ChannelOK,
				Position: &protocol.Position{Epoch: "e", Seq: ev.Seq, EventID: ev.ID}})
		}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkApplyEvents applies sync pages of message.new events the way the
// SDK does (decode, ApplySyncPage: the events and the positions they reach
// in one transaction) and, interleaved in the same run, writes the same rows
// with one prepared INSERT ... ON CONFLICT DO UPDATE per row in one
// transaction: the raw floor. raw_ratio is the SDK's rate over the raw one;
// raw_cpu_ratio, the raw floor's CPU time over the SDK's, scatters less on
// a shared machine.
func BenchmarkApplyEvents(b *testing.B) {
	ctx := context.Background()
	sdk, err := store.Open(ctx, filepath.Join(b.TempDir(), "sdk.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sdk.Close()
	if err := sdk.Bind(ctx, testUser, false); err != nil {
		b.Fatal(err)
	}
	raw, err := store.Open(ctx, filepath.Join(b.TempDir(), "raw.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	holdBenchChannels(b, sdk)

	pages := make([][]byte, b.N)
	for i := range pages {
		pages[i] = benchPage(i)
	}
	var sdkTime, rawTime, sdkCPU, rawCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start, cpu0 := time.Now(), sysres.CPUTime()
		applyPageSDK(b, ctx, sdk, pages[i])
		sdkTime += time.Since(start)
		sdkCPU += sysres.CPUTime() - cpu0

		// The raw floor gets its rows already decoded.
		b.StopTimer()
		var resp protocol.SyncResponse
		if err := json.Unmarshal(pages[i], &resp); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu0 = time.Now(), sysres.CPUTime()
		applyPageRaw(b, ctx, store.SQLX(raw), resp.Events)
		rawTime += time.Since(start)
		rawCPU += sysres.CPUTime() - cpu0
	}
	b.StopTimer()
	events := float64(b.N * benchPageSize)
	sdkRate := events / sdkTime.Seconds()
	rawRate := events / rawTime.Seconds()
	b.ReportMetric(sdkRate, "events/s")
	b.ReportMetric(rawRate, "raw_events/s")
	b.ReportMetric(sdkRate/rawRate, "raw_ratio")
	b.ReportMetric(float64(sdkCPU.Microseconds())/events, "cpu_us/event")
	b.ReportMetric(float64(rawCPU.Microseconds())/events, "raw_cpu_us/event")
	b.ReportMetric(rawCPU.Seconds()/sdkCPU.Seconds(), "raw_cpu_ratio")
}

// holdBenchChannels gives the store the bench channels at their start.
func holdBenchChannels(b *testing.B, db *store.DB) {
	var states []protocol.ChannelResponse
	for c := 0; c < benchChannels; c++ {
		cid := fmt.Sprintf("messaging:ch%03d", c)
		_, id, _ := protocol.SplitCID(cid)
		states = append(states, protocol.ChannelResponse{
			Channel:  protocol.Channel{CID: cid, Type: "messaging", ID: id, CreatedAt: t0, UpdatedAt: t0, Version: 1},
			Position: &protocol.Position{Epoch: "e"}})
	}
	if err := db.ApplyChannelStates(context.Background(), states, nil); err != nil {
		b.Fatal(err)
	}
}

func applyPageSDK(b *testing.B, ctx context.Context, db *store.DB, page []byte) {
	resp, dropped, err := protocol.DecodeSyncPage(page) // as the client decodes it
	if err != nil || len(dropped) > 0 {
		b.Fatal(err, dropped)
	}
	res, err := db.ApplySyncPage(ctx, resp)
	if err != nil || len(res.Skipped) > 0 || len(res.NeedState) > 0 {
		b.Fatal(err, res)
	}
}

const rawUpsert = `INSERT INTO messages (id, cid, user_id, text, parent_id, created_at, updated_at, deleted_at,
	reaction_counts, version, extra, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'sent')
ON CONFLICT (id) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at, version = excluded.version`

func applyPageRaw(b *testing.B, ctx context.Context, db *sqlx.DB, events []protocol.Event) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.PrepareContext(ctx, rawUpsert)
	if err != nil {
		b.Fatal(err)
	}
	for _, ev := range events {
		m := ev.Message
		if _, err := st.ExecContext(ctx, m.ID, m.CID, m.UserID, m.Text, m.ParentID, m.CreatedAt.UnixNano(),
			m.UpdatedAt.UnixNano(), nil, nil, m.Version, nil); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
