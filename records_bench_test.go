package outpost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/sysres"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/token"
)

// Record benchmarks, against a real server as BenchmarkCatchUp:
//
//	go test -run '^$' -bench 'BenchmarkRecord' -benchtime 1x .
//
// OUTPOST_BENCH_RECORDS sets the size (100,000 by default): the records
// of BenchmarkRecordFirstSync's channel, the patches of
// BenchmarkRecordCatchUp's outage.

// benchRecordsPage is the size of the records pages the SDK asks for
// (the engine's recordsPageSize), the floor's pages of a first sync.
const benchRecordsPage = 2000

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
func benchRecordOps(tb testing.TB, c *client.Client, n int, op func(i int) protocol.BatchOp) {
	tb.Helper()
	for i := 0; i < n; i += protocol.MaxBatchOps {
		req := protocol.BatchRequest{}
		for j := i; j < min(i+protocol.MaxBatchOps, n); j++ {
			req.Ops = append(req.Ops, op(j))
		}
		res, err := c.Batch(context.Background(), req)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range res.Results {
			if r.Error != nil {
				tb.Fatal(r.Error)
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
	ts, _, _ := benchServer(b)
	alice := benchREST(b, ts.URL, "alice")
	cid := benchChannelsFor(b, alice, "rfs", 1)[0]
	benchRecordOps(b, alice, n, func(i int) protocol.BatchOp { return benchCreateOp(cid, i) })

	var elapsed, cpu time.Duration
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		sampler := startHeapSampler(5 * time.Millisecond)
		path := filepath.Join(b.TempDir(), fmt.Sprint("bob", i, ".db"))
		b.StartTimer()
		start, cpu0, stop := time.Now(), sysres.CPUTime(), benchCPUProfile(b, "")
		bob := openAt(b, ts.URL, "bob", path)
		deadline := time.Now().Add(10 * time.Minute)
		// The status first: counting 100,000 rows every 5 ms would weigh
		// on the sync measured.
		for !outpost.ManagerOf(bob).Status().Synced || countRecords(b, bob) < n {
			if time.Now().After(deadline) {
				b.Fatalf("first sync of %d records did not finish: %d held", n, countRecords(b, bob))
			}
			time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
		}
		elapsed += time.Since(start)
		cpu += sysres.CPUTime() - cpu0
		stop()
		b.StopTimer()
		peak = max(peak, sampler.Stop())
		bob.Close(ctx)
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(b.N*n) / elapsed.Seconds()
	floor, floorCPU := floorApply(b, recordPagesWire(b, ts.URL, "alice", cid))
	benchRecordMetrics(b, "records", rate, floor, float64(cpu.Microseconds())/float64(b.N*n), floorCPU, peak)
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
	ts, st, _ := benchServer(b)
	alice := benchREST(b, ts.URL, "alice")
	cid := benchChannelsFor(b, alice, "rcu", 1)[0]
	benchRecordOps(b, alice, held, func(i int) protocol.BatchOp { return benchCreateOp(cid, i) })
	bob := open(b, ts.URL, "bob")
	waitFor(b, "bob to hold the records", func() bool { return countRecords(b, bob) == held })
	waitIdle(b, bob, time.Minute)

	synced := watchSynced(bob)
	defer synced.stop()

	var elapsed, cpu time.Duration
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
		synced.expect(n)
		runtime.GC()
		sampler := startHeapSampler(5 * time.Millisecond)
		b.StartTimer()
		start, cpu0, stop := time.Now(), sysres.CPUTime(), benchCPUProfile(b, "")
		if err := outpost.ConnOf(bob).Connect(ctx); err != nil {
			b.Fatal(err)
		}
		synced.wait(b, fmt.Sprintf("catch-up of %d patches", n))
		elapsed += time.Since(start)
		cpu += sysres.CPUTime() - cpu0
		stop()
		b.StopTimer()
		peak = max(peak, sampler.Stop())
		synced.expect(0)
		last := (i+1)*n - 1
		it, err := outpost.StoreOf(bob).GetRecord(ctx, offlinedb.RecordKey{CID: cid, Collection: "tasks", ID: fmt.Sprintf("t%07d", (n-1)%held)})
		if err != nil || string(it.Fields["rank"]) != strconv.Itoa(last) {
			b.Fatalf("bob's last patched record = %s, %v; want rank %d", it.Fields["rank"], err, last)
		}
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(b.N*n) / elapsed.Seconds()
	s := outpost.ManagerOf(bob).Status()
	floor, floorCPU := benchFloor(b, benchEvents(b, st, []string{cid}, s.Progress.Pages))
	benchRecordMetrics(b, "events", rate, floor, float64(cpu.Microseconds())/float64(b.N*n), floorCPU, peak)
}

// benchRecordMetrics reports a record benchmark's figures: its rate (of
// unit, records or events), its floor's and their ratio, the CPU time
// per unit of each (the process's, in-process server included) and
// their ratio, and the peak heap.
func benchRecordMetrics(b *testing.B, unit string, rate, floor, cpu, floorCPU float64, peak uint64) {
	b.ReportMetric(rate, unit+"/s")
	b.ReportMetric(floor, "floor_"+unit+"/s")
	b.ReportMetric(rate/floor, "floor_ratio")
	b.ReportMetric(cpu, "cpu_us/"+unit[:len(unit)-1])
	b.ReportMetric(floorCPU, "floor_cpu_us/"+unit[:len(unit)-1])
	b.ReportMetric(floorCPU/cpu, "floor_cpu_ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MB")
}

// recordPagesWire returns the pages of GET /channels/{cid}/records, as
// user reads them at the size the SDK asks for, as the server's bytes.
func recordPagesWire(b *testing.B, url, user, cid string) [][]byte {
	tok, err := token.Issue(secret, user, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	for after := ""; ; {
		q := neturl.Values{"limit": {strconv.Itoa(benchRecordsPage)}}
		if after != "" {
			q.Set("after", after)
		}
		req, err := http.NewRequest(http.MethodGet, url+strings.Replace(protocol.PathRecords, "{cid}", cid, 1)+"?"+q.Encode(), nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set(protocol.HeaderAuthorization, "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("records page: %v, status %d", err, resp.StatusCode)
		}
		out = append(out, data)
		var page struct {
			Next string `json:"next"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			b.Fatal(err)
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
}
