package outpost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/syncmanager"
)

// Record benchmarks, against a real server as BenchmarkCatchUp:
//
//	go test -run '^$' -bench 'BenchmarkRecord' -benchtime 1x .
//
// OUTPOST_BENCH_RECORDS sets the size (100,000 by default): the records
// of BenchmarkRecordFirstSync's channel, the patches of
// BenchmarkRecordCatchUp's outage.

func benchRecordsN(b *testing.B) int {
	if v := os.Getenv("OUTPOST_BENCH_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("OUTPOST_BENCH_RECORDS=%q: want a positive count", v)
		}
		return n
	}
	return 100000
}

// benchRecordOps sends ops through POST /batch, 100 at a time; op(i)
// makes the i-th.
func benchRecordOps(b *testing.B, c *client.Client, n int, op func(i int) protocol.BatchOp) {
	b.Helper()
	for i := 0; i < n; i += protocol.MaxBatchOps {
		req := protocol.BatchRequest{}
		for j := i; j < min(i+protocol.MaxBatchOps, n); j++ {
			req.Ops = append(req.Ops, op(j))
		}
		res, err := c.Batch(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res.Results {
			if r.Error != nil {
				b.Fatal(r.Error)
			}
		}
	}
}

func benchCreateOp(cid string, i int) protocol.BatchOp {
	body, _ := json.Marshal(protocol.CreateRecordRequest{Fields: map[string]json.RawMessage{
		"title": json.RawMessage(strconv.Quote(fmt.Sprintf("task number %d, about as long as a title", i))),
		"done":  json.RawMessage("false"), "rank": json.RawMessage(strconv.Itoa(i))}})
	return protocol.BatchOp{Type: protocol.OpCreateRecord, Key: fmt.Sprint("c", i), CID: cid, Collection: "tasks",
		RecordID: fmt.Sprintf("t%07d", i), Body: body}
}

func countRecords(tb testing.TB, c *outpost.Client) int {
	tb.Helper()
	var n int
	if err := outpost.StoreOf(c).SQLDB().QueryRow(`SELECT count(*) FROM records WHERE deleted = 0`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkRecordFirstSync: a channel holds N records; Bob opens a new
// device. Measured: from Open until Bob's store holds all N and he is
// synced, as records/s, with the process's peak heap (the in-process
// server included). The floor, in the same run: the same records' pages
// as the server sends them, held in memory, decoded with encoding/json
// and written with one prepared upsert per row, a transaction per page.
func BenchmarkRecordFirstSync(b *testing.B) {
	n := benchRecordsN(b)
	ctx := context.Background()
	ts, _ := benchServer(b)
	alice := benchREST(b, ts.URL, "alice")
	cid := benchChannelsFor(b, alice, "rfs", 1)[0]
	benchRecordOps(b, alice, n, func(i int) protocol.BatchOp { return benchCreateOp(cid, i) })

	var elapsed time.Duration
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		sampler := startHeapSampler(5 * time.Millisecond)
		path := filepath.Join(b.TempDir(), fmt.Sprint("bob", i, ".db"))
		b.StartTimer()
		start := time.Now()
		bob := openAt(b, ts.URL, "bob", path)
		deadline := time.Now().Add(10 * time.Minute)
		for countRecords(b, bob) < n || !outpost.ManagerOf(bob).Status().Synced {
			if time.Now().After(deadline) {
				b.Fatalf("first sync of %d records did not finish: %d held", n, countRecords(b, bob))
			}
			time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
		}
		elapsed += time.Since(start)
		b.StopTimer()
		peak = max(peak, sampler.Stop())
		bob.Close(ctx)
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(b.N*n) / elapsed.Seconds()
	floor := benchRecordFloor(b, func(yield func([]byte)) {
		for after := ""; ; {
			resp, err := alice.Records(ctx, cid, after, 2000)
			if err != nil {
				b.Fatal(err)
			}
			data, _ := json.Marshal(struct {
				Events []protocol.Event `json:"events"`
			}{recordEvents(resp.Records)})
			yield(data)
			if resp.Next == "" {
				return
			}
			after = resp.Next
		}
	})
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(floor, "floor_records/s")
	b.ReportMetric(rate/floor, "floor_ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MB")
}

// recordEvents wraps records as record.created events, the floor's input.
func recordEvents(rs []protocol.Record) []protocol.Event {
	out := make([]protocol.Event, len(rs))
	for i := range rs {
		out[i] = protocol.Event{Type: protocol.EventRecordCreated, CID: rs[i].CID, Seq: rs[i].Version, Record: &rs[i]}
	}
	return out
}

// BenchmarkRecordCatchUp: Bob holds a channel of 1,000 records and goes
// offline; the server takes N patches of them; Bob reconnects. Measured:
// from Connect until Bob is synced with all N events applied, as
// events/s, with the peak heap; the floor as BenchmarkRecordFirstSync's,
// over the same events' pages.
func BenchmarkRecordCatchUp(b *testing.B) {
	n := benchRecordsN(b)
	const held = 1000
	ctx := context.Background()
	ts, st := benchServer(b)
	alice := benchREST(b, ts.URL, "alice")
	cid := benchChannelsFor(b, alice, "rcu", 1)[0]
	benchRecordOps(b, alice, held, func(i int) protocol.BatchOp { return benchCreateOp(cid, i) })
	bob := open(b, ts.URL, "bob")
	waitFor(b, "bob to hold the records", func() bool { return countRecords(b, bob) == held })
	waitIdle(b, bob, time.Minute)

	done := make(chan struct{}, 1)
	var want int
	var mu sync.Mutex
	unsub := outpost.ManagerOf(bob).OnStatus(func(s syncmanager.Status) {
		mu.Lock()
		w := want
		mu.Unlock()
		if w > 0 && s.Online && s.Synced && !s.Syncing && s.Progress.Events >= w {
			select {
			case done <- struct{}{}:
			default:
			}
		}
	})
	defer unsub()

	var elapsed time.Duration
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		outpost.ConnOf(bob).Disconnect()
		waitFor(b, "bob offline", func() bool { s := outpost.ManagerOf(bob).Status(); return !s.Online && !s.Synced })
		benchRecordOps(b, alice, n, func(j int) protocol.BatchOp {
			body, _ := json.Marshal(protocol.PatchRecordRequest{Set: map[string]json.RawMessage{
				"rank": json.RawMessage(strconv.Itoa(i*n + j))}})
			return protocol.BatchOp{Type: protocol.OpPatchRecord, Key: fmt.Sprint("p", i, "-", j), CID: cid, Collection: "tasks",
				RecordID: fmt.Sprintf("t%07d", j%held), Body: body}
		})
		select {
		case <-done:
		default:
		}
		mu.Lock()
		want = n
		mu.Unlock()
		runtime.GC()
		sampler := startHeapSampler(5 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		if err := outpost.ConnOf(bob).Connect(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Minute):
			b.Fatalf("catch-up of %d patches did not finish: %+v", n, outpost.ManagerOf(bob).Status())
		}
		elapsed += time.Since(start)
		b.StopTimer()
		peak = max(peak, sampler.Stop())
		mu.Lock()
		want = 0
		mu.Unlock()
		last := (i+1)*n - 1
		it, err := outpost.StoreOf(bob).GetRecord(ctx, offlinedb.RecordKey{CID: cid, Collection: "tasks", ID: fmt.Sprintf("t%07d", (n-1)%held)})
		if err != nil || string(it.Fields["rank"]) != strconv.Itoa(last) {
			b.Fatalf("bob's last patched record = %s, %v; want rank %d", it.Fields["rank"], err, last)
		}
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(b.N*n) / elapsed.Seconds()
	floor := benchRecordFloor(b, func(yield func([]byte)) {
		err := st.View(ctx, func(tx server.Tx) error {
			for after := int64(0); ; {
				page, err := tx.ChannelEvents(cid, after, 5000)
				if err != nil || len(page) == 0 {
					return err
				}
				var evs []json.RawMessage
				for _, e := range page {
					evs = append(evs, e.Payload)
				}
				data, _ := json.Marshal(struct {
					Events []json.RawMessage `json:"events"`
				}{evs})
				yield(data)
				after = page[len(page)-1].Seq
			}
		})
		if err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(floor, "floor_events/s")
	b.ReportMetric(rate/floor, "floor_ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MB")
}

// benchRecordFloor returns the floor's rate, in records/s: pages (the
// server's JSON, each {"events": [...]}) fetched first into memory, then
// decoded and written with one prepared upsert per record into the local
// schema, one transaction per page.
func benchRecordFloor(b *testing.B, pages func(yield func([]byte))) float64 {
	ctx := context.Background()
	var wire [][]byte
	pages(func(p []byte) { wire = append(wire, p) })
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "floor.db"), offlinedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start, rows := time.Now(), 0
	for _, data := range wire {
		var page struct {
			Events []protocol.Event `json:"events"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			b.Fatal(err)
		}
		tx, err := db.SQLDB().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO records (cid, collection, id, fields, field_versions, version)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cid, collection, id) DO UPDATE SET fields = excluded.fields,
	field_versions = excluded.field_versions, version = excluded.version`)
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range page.Events {
			r := ev.Record
			if r == nil {
				continue
			}
			f, _ := json.Marshal(r.Fields)
			v, _ := json.Marshal(r.FieldVersions)
			if _, err := stmt.ExecContext(ctx, r.CID, r.Collection, r.ID, string(f), string(v), r.Version); err != nil {
				b.Fatal(err)
			}
			rows++
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(rows) / time.Since(start).Seconds()
}
