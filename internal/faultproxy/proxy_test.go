package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/internal/faultproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer starts a TCP server on loopback that echoes each line back.
func echoServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(tb testing.TB, target string) *faultproxy.Proxy {
	tb.Helper()
	p, err := faultproxy.New(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

func dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes a line and reads it back within timeout.
func roundTrip(c net.Conn, line string, timeout time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	buf := make([]byte, len(line)+1)
	if _, err := io.ReadFull(c, buf); err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(buf), "\n"), nil
}

// dialAndRoundTrip dials addr and echoes one line. Against a connection the
// proxy resets at once, either step may fail, depending on whether the RST
// arrives before the dial returns.
func dialAndRoundTrip(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = roundTrip(c, "x", 5*time.Second)
	return err
}

func mustRoundTrip(tb testing.TB, c net.Conn, line string) {
	tb.Helper()
	got, err := roundTrip(c, line, 5*time.Second)
	if err != nil {
		tb.Fatalf("round trip: %v", err)
	}
	if got != line {
		tb.Fatalf("echo = %q, want %q", got, line)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxy_PassesBytes(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	mustRoundTrip(t, c, "hello")
	if got, want := p.Conns(), 1; got != want {
		t.Errorf("Conns = %d, want %d", got, want)
	}
	if got, want := p.Accepted(), 1; got != want {
		t.Errorf("Accepted = %d, want %d", got, want)
	}
	if !strings.HasPrefix(p.URL(), "http://127.0.0.1:") {
		t.Errorf("URL = %q", p.URL())
	}
}

func TestProxy_CutClosesWithEOF(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	mustRoundTrip(t, c, "before")
	p.Cut()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read after Cut = %v, want EOF", err)
	}
	waitFor(t, "no open conns", func() bool { return p.Conns() == 0 })
	// New connections still work.
	mustRoundTrip(t, dial(t, p.Addr()), "after")
}

func TestProxy_ResetSendsRST(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	mustRoundTrip(t, c, "before")
	p.Reset()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after Reset = %v, want ECONNRESET", err)
	}
}

func TestProxy_StallHoldsBytesUntilHeal(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	mustRoundTrip(t, c, "before")
	p.Stall()
	if _, err := roundTrip(c, "held", 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("round trip while stalled = %v, want a timeout", err)
	}
	if got, want := p.Conns(), 1; got != want {
		t.Fatalf("Conns while stalled = %d, want %d (sockets stay open)", got, want)
	}
	p.Heal()
	// The held line arrives after the heal.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("after Heal read %q, %v; want the held line", line, err)
	}
}

func TestProxy_StallAppliesToNewConnections(t *testing.T) {
	p := newProxy(t, echoServer(t))
	p.Stall()
	c := dial(t, p.Addr())
	if _, err := roundTrip(c, "x", 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("round trip on a new conn while stalled = %v, want a timeout", err)
	}
}

func TestProxy_Delay(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	const d = 50 * time.Millisecond
	p.SetDelay(d)
	start := time.Now()
	mustRoundTrip(t, c, "slow")
	if got := time.Since(start); got < 2*d {
		t.Errorf("round trip took %v, want at least %v (delay each way)", got, 2*d)
	}
	p.Heal()
	mustRoundTrip(t, c, "fast")
}

func TestProxy_RefuseResetsNewConnectionsOnly(t *testing.T) {
	p := newProxy(t, echoServer(t))
	old := dial(t, p.Addr())
	mustRoundTrip(t, old, "before")
	p.Refuse()
	if err := dialAndRoundTrip(p.Addr()); err == nil || isTimeout(err) {
		t.Fatalf("round trip on a refused conn = %v, want a reset or EOF", err)
	}
	mustRoundTrip(t, old, "still open")
	if got, want := p.Accepted(), 2; got != want {
		t.Errorf("Accepted = %d, want %d", got, want)
	}
	p.Heal()
	mustRoundTrip(t, dial(t, p.Addr()), "after heal")
}

func TestProxy_TargetDownResetsClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newProxy(t, addr)
	if err := dialAndRoundTrip(p.Addr()); err == nil || isTimeout(err) {
		t.Fatalf("round trip with the target down = %v, want a reset or EOF", err)
	}
}

func TestProxy_CloseIsIdempotentAndEndsConns(t *testing.T) {
	p, err := faultproxy.New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	mustRoundTrip(t, c, "x")
	p.Stall() // a stalled link must not keep Close waiting
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

func TestServer_RestartKeepsAddress(t *testing.T) {
	s, err := faultproxy.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	get := func() error {
		resp, err := hc.Get(s.URL())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Stop()
	if err := get(); err == nil {
		t.Fatal("GET on a stopped server succeeded")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got := s.Addr(); got != addr {
		t.Fatalf("Addr after Start = %s, want %s", got, addr)
	}
	if err := get(); err != nil {
		t.Fatalf("GET after restart: %v", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("GET after Restart: %v", err)
	}
	s.Close()
	if err := s.Start(); !errors.Is(err, faultproxy.ErrServerClosed) {
		t.Fatalf("Start after Close = %v, want ErrServerClosed", err)
	}
}

func TestServer_StopClosesHijackedConns(t *testing.T) {
	hijacked := make(chan struct{})
	handlerDone := make(chan struct{})
	s, err := faultproxy.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer close(handlerDone)
		close(hijacked)
		io.Copy(io.Discard, c) // until the conn is closed
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dial(t, s.Addr())
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-hijacked
	s.Stop()
	select {
	case <-handlerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("hijacked conn survived Stop")
	}
}
