package server_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/sysres"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// BenchmarkFanoutScale holds many live connections on one server (10,000
// by default; OUTPOST_BENCH_CONNS sets the count), their clients in a
// child process (as BenchmarkFanout's clients=child-process), and
// reports, for WebSockets and for Server-Sent Events streams:
//
//   - mem_KB/conn: the server process's Go heap in use plus goroutine
//     stacks, grown by the idle connections, over their count
//     (heap_KB/conn and stack_KB/conn apart; rss_KB/conn beside them;
//     goroutines/conn);
//   - p50_ms, p99_ms: delivery latency at a steady 20,000 deliveries/s
//     (steady_deliveries/s says what the senders reached);
//   - deliveries/s at saturation, and cpu_us/delivery: the server
//     process's CPU time (its senders' included) per delivery.
//
// Run it once: -benchtime 1x. Each user has two connections (a phone and
// a laptop), within the per-user cap. Most channels have 2 to 10 members,
// each user is in two of them; a few have 100 to 1,000. Messages go to
// all of them, a quarter of the deliveries from small channels.
// OUTPOST_BENCH_HEAPPROFILE names a file for the server's heap profile
// with the connections idle.
func BenchmarkFanoutScale(b *testing.B) {
	n := 10_000
	if v := os.Getenv("OUTPOST_BENCH_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 20 {
			b.Fatalf("OUTPOST_BENCH_CONNS=%q: want a count of at least 20", v)
		}
	}
	if have := sysres.RaiseFileLimit(uint64(n) + fdSpare); have < uint64(n)+fdSpare {
		b.Skipf("%d connections need %d open files; the limit is %d and cannot be raised", n, n+fdSpare, have)
	}
	b.Run("clients=websocket", func(b *testing.B) { benchFanoutScale(b, n, false) })
	b.Run("clients=sse", func(b *testing.B) { benchFanoutScale(b, n, true) })
}

// Shape of BenchmarkFanoutScale's population and load.
const (
	scaleConnsPerUser = 2
	scaleSteadyRate   = 20_000 // deliveries/s
	scaleSteadyFor    = 5 * time.Second
	scaleSaturateFor  = 3 * time.Second
	scaleSenders      = 4
	scaleSmallShare   = 0.25 // of deliveries from channels of 2-10 members
)

// scaleChannel is one channel of the benchmark and who sends to it.
type scaleChannel struct {
	cid     string
	owner   string
	members int
}

func benchFanoutScale(b *testing.B, n int, sse bool) {
	// The default send buffer, and the default cap on a user's
	// connections.
	ts := startServer(b, func(c *server.Config) { c.MaxConnsPerUser = 0 })
	users := make([]string, n/scaleConnsPerUser)
	for i := range users {
		users[i] = fmt.Sprintf("u%05d", i)
	}
	small, big := scaleChannels(b, ts, users)
	tokens := make([]string, 0, n)
	for _, u := range users {
		tok := tokenFor(b, u)
		for range scaleConnsPerUser {
			tokens = append(tokens, tok)
		}
	}
	n = len(tokens)
	url := "ws" + ts.URL[len("http"):] + protocol.PathConnect + "?token="
	gauge := "outpost_websocket_connections"
	if sse {
		url = ts.URL + protocol.PathEvents + "?access_token="
		gauge = "outpost_sse_connections"
	}

	before := serverMemory()
	side := startChildSide(b, url, tokens)
	finished := false
	defer func() {
		if !finished {
			side.finish()
		}
	}()
	waitGauge(b, ts, gauge, n)
	idle := serverMemory()
	if path := os.Getenv("OUTPOST_BENCH_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, path)
	}

	// Each message's deliveries: every connection of every member.
	plan := newScalePlan(small, big)
	var sent atomic.Int64 // deliveries the messages sent so far make
	send := func(id string, ch scaleChannel) {
		ts.must(b, ch.owner, "POST", "/channels/"+ch.cid+"/messages",
			protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: fanoutText(time.Now())}}, nil)
		sent.Add(int64(ch.members * scaleConnsPerUser))
	}

	cpu0 := sysres.CPUTime()
	b.ResetTimer()
	// Steady: the k-th message goes when the deliveries before it are due
	// at scaleSteadyRate; scaleSenders send, so one slow request does not
	// hold the rest. Where they cannot keep up, steady_deliveries/s says
	// so, and the phase still ends in time.
	start := time.Now()
	runSenders(func(k int) bool {
		ch, due := plan.at(k)
		at := start.Add(time.Duration(float64(due) / scaleSteadyRate * float64(time.Second)))
		if at.Sub(start) >= scaleSteadyFor || time.Since(start) >= scaleSteadyFor {
			return false // the load is sent, or the senders could not keep up
		}
		time.Sleep(time.Until(at)) // pacing the load, not waiting for a result
		send(fmt.Sprintf("steady%07d", k), ch)
		return true
	})
	steadyElapsed := time.Since(start)
	steady := sent.Load()
	base := side.waitDelivered(steady, 30*time.Second)

	// Saturation: the senders send back to back.
	start = time.Now()
	runSenders(func(k int) bool {
		if time.Since(start) >= scaleSaturateFor {
			return false
		}
		ch, _ := plan.at(k)
		send(fmt.Sprintf("sat%07d", k), ch)
		return true
	})
	got := side.waitDelivered(sent.Load(), 60*time.Second)
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := sysres.CPUTime() - cpu0
	latencies, cut := side.finish()
	finished = true

	conns := float64(n)
	kb := func(x int64) float64 { return float64(x) / conns / 1024 }
	b.ReportMetric(kb(idle.heap+idle.stack-before.heap-before.stack), "mem_KB/conn")
	b.ReportMetric(kb(idle.heap-before.heap), "heap_KB/conn")
	b.ReportMetric(kb(idle.stack-before.stack), "stack_KB/conn")
	b.ReportMetric(kb(idle.rss-before.rss), "rss_KB/conn")
	b.ReportMetric(float64(idle.goroutines-before.goroutines)/conns, "goroutines/conn")
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(steady)/steadyElapsed.Seconds(), "steady_deliveries/s")
	b.ReportMetric(float64(got-base)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cut), "cut_off")
	b.ReportMetric(float64(sent.Load()-got), "undelivered")
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(1, got)), "cpu_us/delivery")
}

// scaleChannels makes the benchmark's channels: each user in two of 2 to
// 10 members, and a few of 100 to 1,000 (fewer and smaller when there
// are few users).
func scaleChannels(tb testing.TB, ts *testServer, users []string) (small, big []scaleChannel) {
	var mu sync.Mutex
	var jobs []func()
	// Two rounds of groups over the users, the second shifted, so that
	// each user's two small channels hold different people.
	for round, shift := range []int{0, 5} {
		size := 2
		for i := 0; i+size <= len(users); i += size {
			members := make([]string, size)
			for j := range members {
				members[j] = users[(i+j+shift)%len(users)]
			}
			cid := fmt.Sprintf("s%d-%05d", round, i)
			jobs = append(jobs, func() {
				cid := createChannel(tb, ts, members[0], cid, members[1:]...).Channel.CID
				mu.Lock()
				small = append(small, scaleChannel{cid: cid, owner: members[0], members: len(members)})
				mu.Unlock()
			})
			size = 2 + (size-1)%9 // 2, 3, ..., 10, 2, ...
		}
	}
	for k, size := range []int{1000, 300, 100, 100} {
		size = min(size, len(users)/(2<<k))
		if size < 2 {
			continue
		}
		// Spread over the users: the k-th channel takes every stride-th.
		stride := len(users) / size
		members := make([]string, size)
		for j := range members {
			members[j] = users[(j*stride+k)%len(users)]
		}
		cid := fmt.Sprintf("b%d", k)
		jobs = append(jobs, func() {
			cid := createChannel(tb, ts, members[0], cid).Channel.CID
			for i := 1; i < size; i += 100 {
				ts.must(tb, members[0], "POST", "/channels/"+cid+"/members",
					protocol.AddMembersRequest{UserIDs: members[i:min(i+100, size)]}, nil)
			}
			mu.Lock()
			big = append(big, scaleChannel{cid: cid, owner: members[0], members: size})
			mu.Unlock()
		})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range scaleSenders {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(jobs)); i = next.Add(1) - 1 {
				jobs[i]()
			}
		})
	}
	wg.Wait()
	sort.Slice(small, func(i, j int) bool { return small[i].cid < small[j].cid })
	sort.Slice(big, func(i, j int) bool { return big[i].cid < big[j].cid })
	return small, big
}

// scalePlan is the sequence of channels the benchmark's messages go to:
// small and big channels in turn, each round robin, so that
// scaleSmallShare of the deliveries come from the small ones.
type scalePlan struct {
	chans []scaleChannel
	due   []int64 // deliveries of the messages before each
	total int64   // deliveries of one pass over chans
}

func newScalePlan(small, big []scaleChannel) *scalePlan {
	p := &scalePlan{}
	var fromSmall, fromBig int64
	for si, bi := 0, 0; si < len(small); {
		var ch scaleChannel
		if len(big) > 0 && float64(fromSmall) > scaleSmallShare*float64(fromSmall+fromBig) {
			ch = big[bi%len(big)]
			bi++
			fromBig += int64(ch.members * scaleConnsPerUser)
		} else {
			ch = small[si]
			si++
			fromSmall += int64(ch.members * scaleConnsPerUser)
		}
		p.due = append(p.due, p.total)
		p.chans = append(p.chans, ch)
		p.total += int64(ch.members * scaleConnsPerUser)
	}
	return p
}

// at returns the k-th message's channel and the deliveries due before it.
func (p *scalePlan) at(k int) (scaleChannel, int64) {
	pass, i := k/len(p.chans), k%len(p.chans)
	return p.chans[i], int64(pass)*p.total + p.due[i]
}

// runSenders has scaleSenders goroutines take message numbers in turn and
// call send with each, until one returns false.
func runSenders(send func(k int) bool) {
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range scaleSenders {
		wg.Go(func() {
			for !stop.Load() {
				if !send(int(next.Add(1) - 1)) {
					stop.Store(true)
				}
			}
		})
	}
	wg.Wait()
}

// memSample is the server process's memory at one time.
type memSample struct {
	heap, stack, rss int64
	goroutines       int
}

// serverMemory collects garbage and samples this process's memory: the
// Go heap in use, goroutine stacks, the resident set.
func serverMemory() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heap: int64(ms.HeapInuse), stack: int64(ms.StackInuse), goroutines: runtime.NumGoroutine()}
	if data, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			s.rss = pages * int64(os.Getpagesize())
		}
	}
	return s
}

func writeHeapProfile(tb testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

// waitGauge waits until the server's metric name reads want.
func waitGauge(tb testing.TB, ts *testServer, name string, want int) {
	deadline := time.Now().Add(30 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		if last = readGauge(tb, ts, name); last == want {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a gauge with a deadline
	}
	tb.Fatalf("%s is %d, want %d", name, last, want)
}

func readGauge(tb testing.TB, ts *testServer, name string) int {
	resp, err := http.Get(ts.URL + server.PathMetrics)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return -1
}
