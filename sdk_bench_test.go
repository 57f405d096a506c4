package outpost_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/internal/sysres"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/server/storetest"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// End-to-end benchmarks of the SDK against a real server (SQLite store,
// httptest on loopback, in the same process). Run them with
//
//	go test -run '^$' -bench 'BenchmarkCatchUp|BenchmarkDrain' -benchtime 1x .
//
// OUTPOST_BENCH_EVENTS sets BenchmarkCatchUp's gap (a comma-separated list
// gives one sub-benchmark per size), e.g. OUTPOST_BENCH_EVENTS=100000,1000000;
// OUTPOST_BENCH_TASKS sets BenchmarkDrain's outbox size.
// OUTPOST_BENCH_CPUPROFILE names a file for a CPU profile of
// BenchmarkCatchUp's catch-ups alone (not its fixtures, floor or ceiling),
// client and in-process server together; go test's -cpuprofile must not
// be set with it.

const (
	benchChannels  = 100
	benchFixtureTx = 5000 // events per fixture transaction
	benchText      = "a message of ordinary length, about as long as people write in chat"
	benchDrainN    = 10000 // OUTPOST_BENCH_TASKS overrides
)

// benchServer is startServer that keeps the store, so fixtures can be
// written into it directly, and records sync requests on a tape.
func benchServer(tb testing.TB) (*httptest.Server, *sqlitestore.Store, *syncTape) {
	tb.Helper()
	tape := &syncTape{path: filepath.Join(tb.TempDir(), "syncs.tape")}
	ts, st := storeServer(tb, func(h http.Handler) http.Handler { tape.next = h; return tape })
	return ts, st, tape
}

// storeServer is benchServer with the server's handler wrapped by wrap,
// if set (a test's gate on some requests).
func storeServer(tb testing.TB, wrap func(http.Handler) http.Handler) (*httptest.Server, *sqlitestore.Store) {
	tb.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "server.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler), HealthInterval: 100 * time.Millisecond,
		WritesPerSecond: -1, SyncsPerMinute: -1, MaxConnsPerUser: -1})
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	tb.Cleanup(func() { srv.Close(); ts.Close(); st.Close() })
	return ts, st
}

// syncTape passes requests to the server and, while recording, keeps the
// bodies of the sync requests in a file (held in memory, they would count
// in the catch-up's peak heap), to be sent again by replay.
type syncTape struct {
	next      http.Handler
	path      string
	mu        sync.Mutex
	recording bool
	file      *os.File
	sizes     []int // of the bodies, in the file's order
	err       error // the first error writing the file
}

func (t *syncTape) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	rec := t.recording && r.Method == http.MethodPost && r.URL.Path == protocol.PathSync
	t.mu.Unlock()
	if rec {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		t.mu.Lock()
		if _, err := t.file.Write(body); err != nil && t.err == nil {
			t.err = err
		}
		t.sizes = append(t.sizes, len(body))
		t.mu.Unlock()
	}
	t.next.ServeHTTP(w, r)
}

// record starts a new recording, or stops it.
func (t *syncTape) record(tb testing.TB, on bool) {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recording = on
	if !on {
		return
	}
	if t.file != nil {
		t.file.Close()
	}
	f, err := os.Create(t.path)
	if err != nil {
		tb.Fatal(err)
	}
	t.file, t.sizes, t.err = f, nil, nil
}

// replay sends the recorded sync requests again, as user, one after
// another, and reads each answer whole, discarding it; it returns the CPU
// time this took: the server's share of the syncs, and the little a
// client spends reading the bytes.
func (t *syncTape) replay(tb testing.TB, url, user string) time.Duration {
	tb.Helper()
	tok, err := token.Issue(secret, user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	t.mu.Lock()
	sizes, werr := t.sizes, t.err
	if t.file != nil {
		t.file.Close()
		t.file = nil
	}
	t.mu.Unlock()
	if werr != nil {
		tb.Fatal(werr)
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		tb.Fatal(err)
	}
	bodies := make([][]byte, len(sizes))
	for i, n := range sizes {
		bodies[i], data = data[:n], data[n:]
	}
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	cpu0 := sysres.CPUTime()
	for _, body := range bodies {
		req, err := http.NewRequest(http.MethodPost, url+protocol.PathSync, bytes.NewReader(body))
		if err != nil {
			tb.Fatal(err)
		}
		req.Header.Set(protocol.HeaderAuthorization, "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			tb.Fatalf("replayed sync: %v, status %d", err, resp.StatusCode)
		}
	}
	return sysres.CPUTime() - cpu0
}

// benchREST returns a REST-only client (no WebSocket, no sync manager, no
// local store), for fixtures and checks that must not add load of their own.
func benchREST(tb testing.TB, url, user string) *client.Client {
	tb.Helper()
	tok, err := token.Issue(secret, user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := client.New(client.Config{ServerURL: url, UserID: user, Token: tok})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// benchChannelsFor creates n team channels owned by alice with bob a
// member, and returns their cids.
func benchChannelsFor(tb testing.TB, alice *client.Client, prefix string, n int) []string {
	tb.Helper()
	cids := make([]string, n)
	for i := range cids {
		ch, err := alice.CreateChannel(context.Background(), protocol.CreateChannelRequest{
			Type: "team", ID: fmt.Sprintf("%s%03d", prefix, i), Members: []string{"bob"}})
		if err != nil {
			tb.Fatal(err)
		}
		cids[i] = ch.Channel.CID
	}
	return cids
}

// waitIdle waits until c is online, synced, with an empty outbox and no
// cycle running.
func waitIdle(tb testing.TB, c *outpost.Client, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := outpost.ManagerOf(c).Status()
		if st.Online && st.Synced && !st.Syncing && st.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s to be idle: %+v", c.UserID(), st)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition with a deadline
	}
}

// insertGap writes n message.new events (by alice) straight into the
// server's store, round-robin over cids; ids are numbered from first.
func insertGap(tb testing.TB, st *sqlitestore.Store, cids []string, first, n int) {
	tb.Helper()
	if err := storetest.AppendMessages(context.Background(), st, cids, first, n); err != nil {
		tb.Fatal(err)
	}
}

// heapSampler records the peak HeapInuse while it runs.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler(every time.Duration) *heapSampler {
	s := &heapSampler{stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapInuse)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop stops the sampler, waits for it and returns the peak in bytes.
func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	s.wg.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return max(s.peak, ms.HeapInuse)
}

func benchSizes(b *testing.B) []int {
	v := os.Getenv("OUTPOST_BENCH_EVENTS")
	if v == "" {
		return []int{100000}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("OUTPOST_BENCH_EVENTS=%q: want positive event counts, comma-separated", v)
		}
		out = append(out, n)
	}
	return out
}

func countMessages(tb testing.TB, c *outpost.Client) int {
	tb.Helper()
	var n int
	if err := outpost.StoreOf(c).SQLDB().QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkCatchUp: Bob is synced, goes offline (Disconnect), the server
// takes N message.new events over 100 channels Bob is a member of, and Bob
// reconnects. Measured: from Connect until Status() says synced with all N
// events applied (the cycle's Progress.Events, and the row count checked
// after). peak_heap_MB is the process's peak HeapInuse during the catch-up,
// sampled every 5 ms after a GC; the in-process server is included, so it
// is an upper bound on the client's.
//
// In the same run it measures the floor (floor_events/s): the same events'
// wire bytes, held in memory in pages as the server sends them, decoded
// with encoding/json into the wire types and written with one prepared
// INSERT ... ON CONFLICT DO UPDATE per row into the same schema, one
// transaction per page; no server, no network, no positions, no guards.
// floor_ratio is the catch-up's rate over the floor's.
//
// And the ceiling (ceiling_events/s): the fastest honest way to put the
// same rows in the same schema with the same guarantees (benchCeiling):
// values decoded before the clock starts, the apply's version- and
// tombstone-guarded upsert in multi-row statements of the best size
// (ceiling_rows), one transaction per page with the page's positions.
// ceiling_ratio is the catch-up's rate over the ceiling's. The rates
// scatter on a shared machine; ceiling_cpu_ratio, the ceiling's CPU time
// per event over the catch-up's, scatters less. The catch-up's CPU time
// includes the in-process server's, which the ceiling has none of: the
// last round's sync requests are sent again, their answers read and
// discarded, for the server's share (server_cpu_us/event), and
// ceiling_client_cpu_ratio is the ceiling's CPU time over the catch-up's
// without it.
func BenchmarkCatchUp(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) { benchCatchUp(b, n) })
	}
}

func benchCatchUp(b *testing.B, n int) {
	ctx := context.Background()
	ts, st, tape := benchServer(b)
	alice := benchREST(b, ts.URL, "alice")
	cids := benchChannelsFor(b, alice, "cu", benchChannels)
	bob := open(b, ts.URL, "bob")
	waitIdle(b, bob, 15*time.Second)
	if chs, _, err := bob.Channels(ctx, offlinedb.ChannelsQuery{}); err != nil || len(chs) != benchChannels {
		b.Fatalf("bob has %d channels (%v), want %d", len(chs), err, benchChannels)
	}

	synced := watchSynced(bob)
	defer synced.stop()

	var elapsed, cpu time.Duration
	var peak, base uint64
	before := countMessages(b, bob)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		outpost.ConnOf(bob).Disconnect()
		waitFor(b, "bob offline", func() bool { s := outpost.ManagerOf(bob).Status(); return !s.Online && !s.Synced })
		insertGap(b, st, cids, i*n, n)
		synced.expect(n)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base = max(base, ms.HeapInuse)
		sampler := startHeapSampler(5 * time.Millisecond)
		tape.record(b, true)
		b.StartTimer()

		stopProfile := benchCPUProfile(b, catchUpProfileSuffix(b, n, i))
		start, cpu0 := time.Now(), sysres.CPUTime()
		if err := outpost.ConnOf(bob).Connect(ctx); err != nil {
			sampler.Stop()
			b.Fatal(err)
		}
		if !synced.waitFor(10 * time.Minute) {
			sampler.Stop()
			b.Fatalf("catch-up of %d events did not finish: %+v", n, outpost.ManagerOf(bob).Status())
		}
		elapsed += time.Since(start)
		cpu += sysres.CPUTime() - cpu0

		b.StopTimer()
		stopProfile()
		tape.record(b, false)
		peak = max(peak, sampler.Stop())
		synced.expect(0)
		if got := countMessages(b, bob); got != before+(i+1)*n {
			b.Fatalf("bob has %d messages after the catch-up, want %d", got, before+(i+1)*n)
		}
		if s := outpost.ManagerOf(bob).Status(); s.Progress.Events != n || s.LastError != nil {
			b.Fatalf("sync applied %d events (want %d), error %v", s.Progress.Events, n, s.LastError)
		}
		b.StartTimer()
	}
	b.StopTimer()
	s := outpost.ManagerOf(bob).Status()
	rate := float64(b.N*n) / elapsed.Seconds()
	// The last round's syncs again, for the server's CPU time alone.
	serverCPU := float64(tape.replay(b, ts.URL, "bob").Microseconds()) / float64(n)
	pages := benchEvents(b, st, cids, s.Progress.Pages)
	floor, floorCPU := benchFloor(b, pages)
	ceiling, ceilingCPU, ceilingRows := benchCeiling(b, pages, cids)
	pages = nil
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(floor, "floor_events/s")
	b.ReportMetric(rate/floor, "floor_ratio")
	b.ReportMetric(ceiling, "ceiling_events/s")
	b.ReportMetric(rate/ceiling, "ceiling_ratio")
	b.ReportMetric(float64(ceilingRows), "ceiling_rows")
	// CPU time per event, of the whole process (the in-process server
	// included), of the floor and of the ceiling: measures that other
	// work on the machine disturbs less than the rates.
	// ceiling_cpu_ratio is the ceiling's CPU time over the catch-up's.
	cpuPerEvent := float64(cpu.Microseconds()) / float64(b.N*n)
	b.ReportMetric(cpuPerEvent, "cpu_us/event")
	b.ReportMetric(floorCPU, "floor_cpu_us/event")
	b.ReportMetric(ceilingCPU, "ceiling_cpu_us/event")
	b.ReportMetric(ceilingCPU/cpuPerEvent, "ceiling_cpu_ratio")
	b.ReportMetric(serverCPU, "server_cpu_us/event")
	b.ReportMetric(ceilingCPU/(cpuPerEvent-serverCPU), "ceiling_client_cpu_ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MB")
	b.ReportMetric(float64(base)/(1<<20), "base_heap_MB")
	b.ReportMetric(float64(s.Progress.Pages), "pages")
}

// catchUpProfileSuffix names round i of an n-event catch-up's profile
// file (see benchCPUProfile): ".n" and ".i" are appended when there are
// several sizes or rounds.
func catchUpProfileSuffix(b *testing.B, n, i int) string {
	suffix := ""
	if len(benchSizes(b)) > 1 {
		suffix += "." + strconv.Itoa(n)
	}
	if i > 0 {
		suffix += "." + strconv.Itoa(i)
	}
	return suffix
}

// benchCPUProfile starts a CPU profile of a benchmark's measured window
// into the file OUTPOST_BENCH_CPUPROFILE names, with suffix appended, if
// it is set, and returns what stops it: go test's -cpuprofile would also
// hold the fixtures.
func benchCPUProfile(b *testing.B, suffix string) (stop func()) {
	path := os.Getenv("OUTPOST_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + suffix)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatalf("OUTPOST_BENCH_CPUPROFILE: %v (go test's -cpuprofile must not be set with it)", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// syncedWatch tells when a client's sync has applied the events a round
// of a catch-up benchmark expects.
type syncedWatch struct {
	mu    sync.Mutex
	want  int // 0: no round under way
	done  chan struct{}
	unsub func()
}

// watchSynced starts watching c's status.
func watchSynced(c *outpost.Client) *syncedWatch {
	w := &syncedWatch{done: make(chan struct{}, 1)}
	w.unsub = outpost.ManagerOf(c).OnStatus(func(s syncmanager.Status) {
		w.mu.Lock()
		want := w.want
		w.mu.Unlock()
		if want > 0 && s.Online && s.Synced && !s.Syncing && s.Progress.Events >= want {
			select {
			case w.done <- struct{}{}:
			default:
			}
		}
	})
	return w
}

// expect starts a round that ends with a sync of at least n events (0:
// none under way), dropping a signal left from the round before.
func (w *syncedWatch) expect(n int) {
	select {
	case <-w.done:
	default:
	}
	w.mu.Lock()
	w.want = n
	w.mu.Unlock()
}

// waitFor reports whether the round ended within d.
func (w *syncedWatch) waitFor(d time.Duration) bool {
	select {
	case <-w.done:
		return true
	case <-time.After(d):
		return false
	}
}

// wait waits up to 10 minutes for the round, what, to end.
func (w *syncedWatch) wait(b *testing.B, what string) {
	b.Helper()
	if !w.waitFor(10 * time.Minute) {
		b.Fatalf("%s did not finish", what)
	}
}

func (w *syncedWatch) stop() { w.unsub() }

// benchEvents returns the events of the channels cids (the gaps the
// catch-ups applied, and each channel's few first events) as the server
// stores them, in pages of the size the catch-up's pages had.
func benchEvents(b *testing.B, st *sqlitestore.Store, cids []string, pages int) [][]json.RawMessage {
	ctx := context.Background()
	var evs []json.RawMessage
	err := st.View(ctx, func(tx server.Tx) error {
		for _, cid := range cids {
			l, err := tx.ChannelLog(cid)
			if err != nil {
				return err
			}
			for after := int64(0); ; {
				page, err := tx.ChannelEvents(cid, after, 5000)
				if err != nil {
					return err
				}
				if len(page) == 0 {
					break
				}
				for _, e := range page {
					evs = append(evs, e.Payload)
				}
				after = page[len(page)-1].Seq
				if after >= l.LastSeq {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	size := max(1, len(evs)/max(1, pages))
	var out [][]json.RawMessage
	for lo := 0; lo < len(evs); lo += size {
		out = append(out, evs[lo:min(lo+size, len(evs))])
	}
	return out
}

// benchFloor returns the floor's rate, in events/s, and its CPU time per
// event, in µs, over pages as the server's JSON.
func benchFloor(b *testing.B, pages [][]json.RawMessage) (rate, cpuPerEvent float64) {
	var wire [][]byte
	for _, evs := range pages {
		page := struct {
			Events []json.RawMessage `json:"events"`
		}{evs}
		data, err := json.Marshal(page)
		if err != nil {
			b.Fatal(err)
		}
		wire = append(wire, data)
	}
	return floorApply(b, wire)
}

// floorApply is the floor's work over pages of wire JSON, as the server
// sends them (sync pages with "events", history pages with "messages",
// records pages with "records"): each page decoded with encoding/json
// into the wire types and its messages and records written with one
// prepared upsert per row, one transaction per page. It returns the rate,
// in rows/s, and the CPU time per row, in µs.
func floorApply(b *testing.B, wire [][]byte) (rate, cpuPerRow float64) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "floor.db"), offlinedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start, cpu0 := time.Now(), sysres.CPUTime()
	rows := 0
	for _, data := range wire {
		var page struct {
			Events   []protocol.Event   `json:"events"`
			Messages []protocol.Message `json:"messages"`
			Records  []protocol.Record  `json:"records"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			b.Fatal(err)
		}
		msgs := make([]*protocol.Message, 0, len(page.Events)+len(page.Messages))
		recs := make([]*protocol.Record, 0, len(page.Events)+len(page.Records))
		for _, ev := range page.Events {
			if ev.Message != nil {
				msgs = append(msgs, ev.Message)
			}
			if ev.Record != nil {
				recs = append(recs, ev.Record)
			}
		}
		for i := range page.Messages {
			msgs = append(msgs, &page.Messages[i])
		}
		for i := range page.Records {
			recs = append(recs, &page.Records[i])
		}
		tx, err := db.SQLDB().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		floorRows(b, tx, floorUpsert, msgs, func(m *protocol.Message) []any {
			return []any{m.ID, m.CID, m.UserID, m.Text, m.ParentID, m.CreatedAt.UnixNano(), m.UpdatedAt.UnixNano(), m.Version, m.Seq}
		})
		floorRows(b, tx, floorRecordUpsert, recs, func(r *protocol.Record) []any {
			f, _ := json.Marshal(r.Fields)
			v, _ := json.Marshal(r.FieldVersions)
			return []any{r.CID, r.Collection, r.ID, string(f), string(v), r.Version}
		})
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		rows += len(msgs) + len(recs)
	}
	cpu := sysres.CPUTime() - cpu0
	return float64(rows) / time.Since(start).Seconds(), float64(cpu.Microseconds()) / float64(rows)
}

// floorRows writes rows in tx with the prepared statement q, args(row)
// its arguments.
func floorRows[T any](b *testing.B, tx *sql.Tx, q string, rows []T, args func(T) []any) {
	if len(rows) == 0 {
		return
	}
	stmt, err := tx.Prepare(q)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.Exec(args(r)...); err != nil {
			b.Fatal(err)
		}
	}
}

// ceilingRows are the statement sizes the ceiling tries, and
// ceilingTrialPages how many pages each is tried on.
var ceilingRows = []int{16, 64, 256, 1024}

const ceilingTrialPages = 20

// benchCeiling returns the ceiling's rate, in events/s, its CPU time per
// event, in µs, and the statement size it had: the same rows, decoded
// before the clock starts, written by store.WriteCeiling (the apply's
// guarded upsert, multi-row, one transaction per page with the page's
// positions) into a store that holds the channels, as the catch-up's
// does. Each size of ceilingRows is tried on the first pages, each into
// a store of its own, and the one of least CPU time writes them all.
func benchCeiling(b *testing.B, raw [][]json.RawMessage, cids []string) (rate, cpuPerEvent float64, rows int) {
	pages := make([]store.CeilingPage, len(raw))
	for i, evs := range raw {
		p := &pages[i]
		at := map[string]int{}
		for _, data := range evs {
			var ev protocol.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				b.Fatal(err)
			}
			if ev.Message == nil {
				continue
			}
			p.Messages = append(p.Messages, *ev.Message)
			pos := protocol.ChannelPosition{CID: ev.CID, Position: protocol.Position{Epoch: ev.Epoch, Seq: ev.Seq, EventID: ev.ID}}
			if j, ok := at[ev.CID]; ok {
				p.Positions[j] = pos
				continue
			}
			at[ev.CID] = len(p.Positions)
			p.Positions = append(p.Positions, pos)
		}
	}
	bestCPU := time.Duration(-1)
	for _, n := range ceilingRows {
		_, cpu, _ := writeCeiling(b, pages[:min(len(pages), ceilingTrialPages)], cids, n)
		if bestCPU < 0 || cpu < bestCPU {
			bestCPU, rows = cpu, n
		}
	}
	elapsed, cpu, events := writeCeiling(b, pages, cids, rows)
	return float64(events) / elapsed.Seconds(), float64(cpu.Microseconds()) / float64(events), rows
}

// writeCeiling writes pages with store.WriteCeiling, statements of rows
// rows, into a new store holding the channels cids, and returns the time
// and CPU time it took and the rows written.
func writeCeiling(b *testing.B, pages []store.CeilingPage, cids []string, rows int) (elapsed, cpu time.Duration, events int) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("ceiling-%d.db", rows)), offlinedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	states := make([]protocol.ChannelResponse, len(cids))
	for i, cid := range cids {
		typ, id, _ := protocol.SplitCID(cid)
		states[i] = protocol.ChannelResponse{Channel: protocol.Channel{CID: cid, Type: typ, ID: id, Version: 1},
			Position: &protocol.Position{Epoch: "start"}}
	}
	if err := db.ApplyChannelStates(ctx, states, nil); err != nil {
		b.Fatal(err)
	}
	start, cpu0 := time.Now(), sysres.CPUTime()
	for _, p := range pages {
		if err := db.WriteCeiling(ctx, p, rows); err != nil {
			b.Fatal(err)
		}
		events += len(p.Messages)
	}
	return time.Since(start), sysres.CPUTime() - cpu0, events
}

// floorUpsert is the floor's one statement per row: the message into the
// local schema, newer text winning, nothing else.
const floorUpsert = `INSERT INTO messages (id, cid, user_id, text, parent_id, created_at, updated_at, version, seq, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'sent')
ON CONFLICT (id) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at, version = excluded.version`

// floorRecordUpsert is the floor's one statement per record: the record
// into the local schema, replacing the row's fields and version,
// nothing else.
const floorRecordUpsert = `INSERT INTO records (cid, collection, id, fields, field_versions, version)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cid, collection, id) DO UPDATE SET fields = excluded.fields,
	field_versions = excluded.field_versions, version = excluded.version`

// BenchmarkDrain: Bob queues 10,000 sends while disconnected, then
// reconnects. Measured: from Connect until Status().Pending is 0, as
// tasks/s. Then the server's messages of the channel are paged and must be
// in send order. In the same run, the baseline makes the same number of
// sequential SendMessage REST calls directly (one request per message,
// Bob still connected and applying the live events, as in the drain).
func BenchmarkDrain(b *testing.B) {
	ctx := context.Background()
	benchDrainN := benchDrainN
	if v := os.Getenv("OUTPOST_BENCH_TASKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("OUTPOST_BENCH_TASKS=%q: want a positive count", v)
		}
		benchDrainN = n
	}
	ts, _, _ := benchServer(b)
	alice := benchREST(b, ts.URL, "alice")
	cids := benchChannelsFor(b, alice, "dr", 2)
	drainCID, baseCID := cids[0], cids[1]
	bob := open(b, ts.URL, "bob")
	waitIdle(b, bob, 15*time.Second)

	var drainTime, baseTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		outpost.ConnOf(bob).Disconnect()
		waitFor(b, "bob offline", func() bool { return !outpost.ManagerOf(bob).Status().Online })
		ids := make([]string, benchDrainN)
		for j := range ids {
			id, err := sentID(bob.SendMessage(ctx, drainCID, outpost.NewMessage{Text: fmt.Sprintf("drain %d.%05d", i, j)}))
			if err != nil {
				b.Fatal(err)
			}
			ids[j] = id
		}
		// The status's count follows the outbox a moment later (it was
		// seen at N+1 while a recount overlapped the sends).
		waitFor(b, fmt.Sprintf("pending = %d before the drain", benchDrainN), func() bool {
			return outpost.ManagerOf(bob).Status().Pending == benchDrainN
		})
		b.StartTimer()

		start := time.Now()
		if err := outpost.ConnOf(bob).Connect(ctx); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Minute)
		for outpost.ManagerOf(bob).Status().Pending != 0 {
			if time.Now().After(deadline) {
				b.Fatalf("drain did not finish: %+v", outpost.ManagerOf(bob).Status())
			}
			time.Sleep(time.Millisecond) // polling; 1 ms against a drain of seconds
		}
		drainTime += time.Since(start)

		b.StopTimer()
		waitIdle(b, bob, 2*time.Minute)
		if s := outpost.ManagerOf(bob).Status(); s.Failed != 0 {
			b.Fatalf("%d tasks failed", s.Failed)
		}
		checkServerOrder(b, alice, drainCID, i, ids)

		// Baseline: the same number of direct, sequential REST sends.
		start = time.Now()
		for j := 0; j < benchDrainN; j++ {
			_, err := outpost.ConnOf(bob).SendMessage(ctx, baseCID, protocol.SendMessageRequest{Message: protocol.MessageInput{
				ID: fmt.Sprintf("base-%d-%05d", i, j), Text: fmt.Sprintf("base %d.%05d", i, j)}})
			if err != nil {
				b.Fatal(err)
			}
		}
		baseTime += time.Since(start)
		waitIdle(b, bob, 2*time.Minute)
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(b.N*benchDrainN) / drainTime.Seconds()
	baseRate := float64(b.N*benchDrainN) / baseTime.Seconds()
	b.ReportMetric(rate, "tasks/s")
	b.ReportMetric(baseRate, "baseline_tasks/s")
	b.ReportMetric(rate/baseRate, "ratio")
}

// checkServerOrder pages the channel's messages on the server, oldest
// first, and checks that round's messages are exactly ids, in that order.
func checkServerOrder(tb testing.TB, c *client.Client, cid string, round int, ids []string) {
	tb.Helper()
	prefix := fmt.Sprintf("drain %d.", round)
	// Pages come oldest first within a page; walk back from the latest
	// page with Before, newest page first, and put the pages in order.
	var pages [][]string
	before := ""
	for {
		resp, err := c.QueryMessages(context.Background(), cid, client.MessagesQuery{Limit: 200, Before: before})
		if err != nil {
			tb.Fatal(err)
		}
		var page []string
		for _, m := range resp.Messages {
			if strings.HasPrefix(m.Text, prefix) {
				page = append(page, m.ID)
			}
		}
		pages = append(pages, page)
		if len(resp.Messages) < 200 {
			break
		}
		before = resp.Messages[0].ID
	}
	var got []string
	for i := len(pages) - 1; i >= 0; i-- {
		got = append(got, pages[i]...)
	}
	if len(got) != len(ids) {
		tb.Fatalf("server has %d of round %d's %d messages", len(got), round, len(ids))
	}
	for i := range ids {
		if got[i] != ids[i] {
			tb.Fatalf("server order differs from send order at %d: got %s, want %s", i, got[i], ids[i])
		}
	}
}
