package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/internal/sysres"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// BenchmarkFanout connects 1,000 WebSocket clients to one channel over
// loopback. At a steady 20 messages/s (20,000 deliveries/s) it reports the
// delivery latency p50_ms and p99_ms; then it sends as fast as it can and
// reports deliveries/s at saturation.
//
// clients=same-process runs the clients in the benchmark's process, beside
// the server; clients=child-process runs them in a second process (this
// test binary again, as TestFanoutClientsChild), so that the server's
// process does only the server's work. On a machine of two cores the two
// processes still share them.
func BenchmarkFanout(b *testing.B) {
	b.Run("clients=same-process", func(b *testing.B) { benchFanout(b, false) })
	b.Run("clients=child-process", func(b *testing.B) { benchFanout(b, true) })
}

const fanoutClients = 1000

// fdSpare is how many files a benchmark's process keeps open beside its
// connections.
const fdSpare = 500

// fanoutChildEnv, set, makes TestFanoutClientsChild run the clients of a
// BenchmarkFanout in the parent process.
const fanoutChildEnv = "OUTPOST_FANOUT_CHILD"

// fanoutText is the text of a benchmark message sent at t: the clients
// take the send time from it, in whichever process they run.
func fanoutText(t time.Time) string { return "fan me out " + strconv.FormatInt(t.UnixNano(), 10) }

func sentAtOf(text string) (time.Time, bool) {
	i := strings.LastIndexByte(text, ' ')
	n, err := strconv.ParseInt(text[i+1:], 10, 64)
	return time.Unix(0, n), err == nil
}

// fanoutReaders are the benchmark's clients: each reads and decodes every
// event; the latency of the messages whose id starts with "steady" is
// kept.
type fanoutReaders struct {
	mu        sync.Mutex
	latencies []time.Duration
	delivered atomic.Int64
	cut       atomic.Int64
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	conns     []io.Closer // nil where a dial failed
}

// dialFanoutReaders connects one client per token: WebSockets when url is
// ws://, Server-Sent Events streams when it is http:// (url ends in the
// token parameter's "="). A few dial at once; when there are more
// clients than ephemeral ports to one address, they spread over several
// loopback source addresses.
func dialFanoutReaders(url string, tokens []string) (*fanoutReaders, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &fanoutReaders{cancel: cancel, conns: make([]io.Closer, len(tokens))}
	sources := loopbackSources(len(tokens))
	sse := strings.HasPrefix(url, "http")
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		dialers  sync.WaitGroup
	)
	for range 8 {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) || ctx.Err() != nil {
					return
				}
				d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: sources[i%len(sources)]}
				var err error
				if sse {
					err = r.dialSSE(ctx, d, url+tokens[i], i)
				} else {
					err = r.dialWS(ctx, d, url+tokens[i], i)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("client %d: %w", i, err) })
					cancel()
					return
				}
			}
		}()
	}
	dialers.Wait()
	if firstErr != nil {
		r.close()
		return nil, firstErr
	}
	return r, nil
}

// loopbackSources returns the source addresses n clients dial from: nil
// (any) while n fits well within the ephemeral port range, else enough
// loopback addresses (127.0.0.2 on) to leave each half its ports free.
func loopbackSources(n int) []*net.TCPAddr {
	ports := 28232 // Linux's default range, 32768-60999
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(data), &lo, &hi); err == nil && hi > lo {
			ports = hi - lo + 1
		}
	}
	k := (n + ports/2 - 1) / (ports / 2)
	if k <= 1 {
		return []*net.TCPAddr{nil}
	}
	out := make([]*net.TCPAddr, k)
	for i := range out {
		out[i] = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}
	}
	return out
}

func (r *fanoutReaders) dialWS(ctx context.Context, d *net.Dialer, url string, i int) error {
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	c, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}})
	if err != nil {
		return err
	}
	c.SetReadLimit(1 << 20)
	r.conns[i] = closerFunc(c.CloseNow)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
					r.cut.Add(1)
				}
				return
			}
			if r.got(data, time.Now()) == protocol.EventHealthCheck {
				// Answer, as a client does, so the server keeps the
				// connection however long the benchmark runs.
				c.Write(ctx, websocket.MessageText, healthCheck)
			}
		}
	}()
	return nil
}

// dialSSE opens a GET /events stream over a plain connection and reads
// its data lines.
func (r *fanoutReaders) dialSSE(ctx context.Context, d *net.Dialer, rawURL string, i int) error {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		return err
	}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", u.RequestURI(), u.Host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return fmt.Errorf("GET /events: %s", resp.Status)
	}
	conn.SetDeadline(time.Time{})
	r.conns[i] = conn
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer resp.Body.Close()
		lines := bufio.NewScanner(resp.Body)
		lines.Buffer(nil, 1<<20)
		for lines.Scan() {
			if data, ok := bytes.CutPrefix(lines.Bytes(), []byte("data: ")); ok {
				r.got(data, time.Now())
			}
		}
		if ctx.Err() == nil {
			r.cut.Add(1) // the server ended the stream
		}
	}()
	return nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// healthCheck is what a client answers a health check with.
var healthCheck = []byte(`{"type":"health.check"}`)

// got counts one event a client received at now, keeps the latency of a
// steady message, and returns the event's type.
func (r *fanoutReaders) got(data []byte, now time.Time) protocol.EventType {
	ev, err := protocol.DecodeEvent(data)
	if err != nil {
		return ""
	}
	if ev.Type != protocol.EventMessageNew {
		return ev.Type
	}
	r.delivered.Add(1)
	if strings.HasPrefix(ev.Message.ID, "steady") {
		if t, ok := sentAtOf(ev.Message.Text); ok {
			r.mu.Lock()
			r.latencies = append(r.latencies, now.Sub(t))
			r.mu.Unlock()
		}
	}
	return ev.Type
}

// waitDelivered waits until want events are delivered or limit passes,
// and returns the deliveries.
func (r *fanoutReaders) waitDelivered(want int64, limit time.Duration) int64 {
	deadline := time.Now().Add(limit)
	for r.delivered.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling a counter with a deadline
	}
	return r.delivered.Load()
}

func (r *fanoutReaders) close() {
	r.cancel()
	for _, c := range r.conns {
		if c != nil {
			c.Close()
		}
	}
	r.wg.Wait()
}

// fanoutSide is where the benchmark's clients run.
type fanoutSide interface {
	// waitDelivered waits until want events are delivered or limit
	// passes, and returns the deliveries.
	waitDelivered(want int64, limit time.Duration) int64
	// finish ends the clients and returns the steady latencies and the
	// clients cut off.
	finish() ([]time.Duration, int64)
}

type localSide struct{ r *fanoutReaders }

func (s localSide) waitDelivered(want int64, limit time.Duration) int64 {
	return s.r.waitDelivered(want, limit)
}

func (s localSide) finish() ([]time.Duration, int64) {
	s.r.close()
	return s.r.latencies, s.r.cut.Load()
}

// childSide runs the clients in a child process and talks to it over its
// stdin and stdout, one line a command (see TestFanoutClientsChild).
type childSide struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChildSide(tb testing.TB, url string, tokens []string) *childSide {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFanoutClientsChild$")
	cmd.Env = append(os.Environ(), fanoutChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &childSide{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	s.out.Buffer(nil, 1<<20)
	fmt.Fprintln(in, url)
	fmt.Fprintln(in, strings.Join(tokens, " "))
	if line := s.line(tb); line != "ready" {
		cmd.Process.Kill()
		tb.Fatalf("fan-out child: %q, want ready", line)
	}
	return s
}

func (s *childSide) line(tb testing.TB) string {
	if !s.out.Scan() {
		tb.Fatalf("fan-out child ended: %v", s.out.Err())
	}
	return s.out.Text()
}

func (s *childSide) waitDelivered(want int64, limit time.Duration) int64 {
	fmt.Fprintf(s.in, "wait %d %d\n", want, limit.Milliseconds())
	if !s.out.Scan() {
		return 0
	}
	n, _ := strconv.ParseInt(s.out.Text(), 10, 64)
	return n
}

func (s *childSide) finish() ([]time.Duration, int64) {
	fmt.Fprintln(s.in, "finish")
	var lat []time.Duration
	var cut int64
	for s.out.Scan() {
		f := strings.Fields(s.out.Text())
		if len(f) == 2 && f[0] == "cut" {
			cut, _ = strconv.ParseInt(f[1], 10, 64)
			break
		}
		for _, x := range f {
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				lat = append(lat, time.Duration(n))
			}
		}
	}
	s.in.Close()
	s.cmd.Wait()
	return lat, cut
}

// TestFanoutClientsChild is BenchmarkFanout's client side when it runs in
// a child process; it does nothing otherwise. It reads the server's URL
// and the clients' tokens from stdin, says "ready" when they are
// connected, answers "wait N MS" with the deliveries once N are in (or MS
// have passed), and "finish" with the steady latencies in nanoseconds,
// then "cut N".
func TestFanoutClientsChild(t *testing.T) {
	if os.Getenv(fanoutChildEnv) == "" {
		t.Skip("runs as BenchmarkFanout's child process")
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<22)
	var url string
	var tokens []string
	if in.Scan() {
		url = in.Text()
	}
	if in.Scan() {
		tokens = strings.Fields(in.Text())
	}
	if have, want := sysres.RaiseFileLimit(uint64(len(tokens))+fdSpare), uint64(len(tokens))+fdSpare; have < want {
		t.Fatalf("%d clients need %d open files; the limit is %d", len(tokens), want, have)
	}
	r, err := dialFanoutReaders(url, tokens)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 3 && f[0] == "wait":
			want, _ := strconv.ParseInt(f[1], 10, 64)
			ms, _ := strconv.ParseInt(f[2], 10, 64)
			fmt.Println(r.waitDelivered(want, time.Duration(ms)*time.Millisecond))
		case len(f) == 1 && f[0] == "finish":
			r.close()
			w := bufio.NewWriter(os.Stdout)
			for i, l := range r.latencies {
				fmt.Fprint(w, int64(l))
				if i%100 == 99 {
					fmt.Fprintln(w)
				} else {
					fmt.Fprint(w, " ")
				}
			}
			fmt.Fprintf(w, "\ncut %d\n", r.cut.Load())
			w.Flush()
			return
		}
	}
	r.close()
}

func benchFanout(b *testing.B, child bool) {
	sysres.RaiseFileLimit(4 * fanoutClients)
	ts := startServer(b, func(c *server.Config) { c.SendBuffer = 4096 })
	cid := createChannel(b, ts, "alice", "all").Channel.CID
	users := make([]string, fanoutClients)
	tokens := make([]string, fanoutClients)
	for i := range users {
		users[i] = fmt.Sprintf("u%04d", i)
		tokens[i] = tokenFor(b, users[i])
	}
	for i := 0; i < fanoutClients; i += 100 {
		ts.must(b, "alice", "POST", "/channels/"+cid+"/members", protocol.AddMembersRequest{UserIDs: users[i : i+100]}, nil)
	}
	url := "ws" + ts.URL[len("http"):] + protocol.PathConnect + "?token="
	var side fanoutSide
	if child {
		side = startChildSide(b, url, tokens)
	} else {
		r, err := dialFanoutReaders(url, tokens)
		if err != nil {
			b.Fatal(err)
		}
		side = localSide{r}
	}
	finished := false
	defer func() {
		if !finished {
			side.finish()
		}
	}()
	send := func(id string) {
		ts.must(b, "alice", "POST", "/channels/"+cid+"/messages",
			protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: fanoutText(time.Now())}}, nil)
	}

	cpu0 := sysres.CPUTime()
	b.ResetTimer()
	// Steady phase: 20 messages a second for 5 seconds.
	tick := time.NewTicker(50 * time.Millisecond)
	for i := 0; i < 100; i++ {
		<-tick.C
		send(fmt.Sprintf("steady%03d", i))
	}
	tick.Stop()
	base := side.waitDelivered(100*fanoutClients, 10*time.Second)

	// Saturation: send as fast as one sender can for 3 seconds.
	start := time.Now()
	n := 0
	for time.Since(start) < 3*time.Second {
		send(fmt.Sprintf("sat%05d", n))
		n++
	}
	got := side.waitDelivered(base+int64(n*fanoutClients), 20*time.Second)
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := sysres.CPUTime() - cpu0
	latencies, cut := side.finish()
	finished = true

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(len(latencies)), "steady_deliveries")
	b.ReportMetric(float64(got-base)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "sat_msgs/s")
	b.ReportMetric(float64(cut), "cut_off")
	// The CPU time of this process per delivery: with the clients in a
	// child process, the server's (and the one sender's) alone. It holds
	// better than the latencies on a machine other work is loading.
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(1, got)), "cpu_us/delivery")
}
