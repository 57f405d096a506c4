package offlinedb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

const (
	benchPageSize = 1000
	benchChannels = 100
)

// benchPage returns page p as the JSON a sync response carries: message.new
// events spread over benchChannels channels.
func benchPage(p int) []byte {
	resp := protocol.SyncResponse{SyncedAt: at(p + 1)}
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
	}
	b, err := json.Marshal(resp)
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkApplyEvents applies sync pages of message.new events the way the
// SDK does (decode, HandleEvent(execute=false), one ExecuteSQLBatch with
// the checkpoint) and, interleaved in the same run, writes the same rows
// with one prepared INSERT ... ON CONFLICT DO UPDATE per row in one
// transaction: the raw floor. raw_ratio is the SDK's rate over the raw one.
func BenchmarkApplyEvents(b *testing.B) {
	ctx := context.Background()
	sdk, err := offlinedb.Open(ctx, filepath.Join(b.TempDir(), "sdk.db"), offlinedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sdk.Close()
	raw, err := offlinedb.Open(ctx, filepath.Join(b.TempDir(), "raw.db"), offlinedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()

	pages := make([][]byte, b.N)
	for i := range pages {
		pages[i] = benchPage(i)
	}
	var sdkTime, rawTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		applyPageSDK(b, ctx, sdk, pages[i])
		sdkTime += time.Since(start)

		// The raw floor gets its rows already decoded.
		b.StopTimer()
		var resp protocol.SyncResponse
		if err := json.Unmarshal(pages[i], &resp); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start = time.Now()
		applyPageRaw(b, ctx, raw.SQLX(), resp.Events)
		rawTime += time.Since(start)
	}
	b.StopTimer()
	events := float64(b.N * benchPageSize)
	sdkRate := events / sdkTime.Seconds()
	rawRate := events / rawTime.Seconds()
	b.ReportMetric(sdkRate, "events/s")
	b.ReportMetric(rawRate, "raw_events/s")
	b.ReportMetric(sdkRate/rawRate, "raw_ratio")
}

func applyPageSDK(b *testing.B, ctx context.Context, db *offlinedb.DB, page []byte) {
	var resp protocol.SyncResponse
	if err := protocol.DecodeLenient(page, &resp, "sync response"); err != nil {
		b.Fatal(err)
	}
	qs := make([]offlinedb.Query, 0, len(resp.Events)+1)
	for i := range resp.Events {
		q, err := db.HandleEvent(ctx, &resp.Events[i], false)
		if err != nil {
			b.Fatal(err)
		}
		qs = append(qs, q...)
	}
	qs = append(qs, offlinedb.SyncStatusQuery("bench-user", resp.SyncedAt))
	skipped, err := db.ExecuteSQLBatch(ctx, qs)
	if err != nil || len(skipped) > 0 {
		b.Fatal(err, skipped)
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
