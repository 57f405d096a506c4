package webtest_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// wireServer serves ts's server on a listener of its own and returns its
// address and how many connections it hijacked. With netHTTP, the
// ResponseWriter cannot be hijacked, so streams stay with net/http: the
// framing the hijacked streams must match.
func wireServer(tb testing.TB, ts *testServer, netHTTP bool) (string, *atomic.Int32) {
	tb.Helper()
	var h http.Handler = ts.srv
	if netHTTP {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ts.srv.ServeHTTP(noHijack{w}, r) })
	}
	hs := httptest.NewUnstartedServer(h)
	hijacked := &atomic.Int32{}
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateHijacked {
			hijacked.Add(1)
		}
	}
	hs.Start()
	tb.Cleanup(hs.Close)
	return hs.Listener.Addr().String(), hijacked
}

// noHijack is a ResponseWriter that flushes but cannot be hijacked (as
// behind a middleware that hides it).
type noHijack struct{ w http.ResponseWriter }

func (n noHijack) Header() http.Header         { return n.w.Header() }
func (n noHijack) Write(b []byte) (int, error) { return n.w.Write(b) }
func (n noHijack) WriteHeader(code int)        { n.w.WriteHeader(code) }
func (n noHijack) Flush()                      { _ = http.NewResponseController(n.w).Flush() }

// rawStream is a GET /events over a plain TCP connection, read byte for
// byte.
type rawStream struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialStream(tb testing.TB, addr, query, token string) *rawStream {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	req := "GET " + protocol.PathEvents + "?" + query + " HTTP/1.1\r\nHost: outpost.test\r\nAuthorization: Bearer " + token + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatal(err)
	}
	return &rawStream{conn: conn, br: bufio.NewReader(conn)}
}

func (c *rawStream) line(tb testing.TB) string {
	tb.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := c.br.ReadString('\n')
	if err != nil {
		tb.Fatalf("reading the stream: %v (read %q)", err, s)
	}
	return s
}

// head reads the status line and the headers, Date left out (it must be
// there).
func (c *rawStream) head(tb testing.TB) (status string, headers []string) {
	tb.Helper()
	status = c.line(tb)
	sawDate := false
	for {
		l := c.line(tb)
		if l == "\r\n" {
			break
		}
		if strings.HasPrefix(l, "Date: ") {
			sawDate = true
			continue
		}
		headers = append(headers, strings.TrimSuffix(l, "\r\n"))
	}
	if !sawDate {
		tb.Error("no Date header")
	}
	slices.Sort(headers)
	return status, headers
}

// chunkSize is a chunk's size line as net/http writes it: lowercase hex
// without leading zeros.
var chunkSize = regexp.MustCompile(`^(0|[1-9a-f][0-9a-f]*)\r\n$`)

// chunk reads one chunk of the body and returns its data; "" is the last
// chunk (its CRLF read: no trailers come).
func (c *rawStream) chunk(tb testing.TB) string {
	tb.Helper()
	l := c.line(tb)
	if !chunkSize.MatchString(l) {
		tb.Fatalf("chunk size line %q", l)
	}
	var n int
	fmt.Sscanf(l, "%x", &n)
	data := make([]byte, n+2)
	if _, err := io.ReadFull(c.br, data); err != nil {
		tb.Fatalf("reading a chunk of %d bytes: %v", n, err)
	}
	if string(data[n:]) != "\r\n" {
		tb.Fatalf("chunk of %d bytes ends with %q", n, data[n:])
	}
	return string(data[:n])
}

// event reads chunks up to one that is not a heartbeat and returns it.
func (c *rawStream) event(tb testing.TB) string {
	tb.Helper()
	for {
		if data := c.chunk(tb); data != ": ping\n\n" {
			return data
		}
	}
}

// TestEvents_Wire: a stream's bytes, read off a TCP connection, are those
// net/http frames: the same status line and headers, one chunk per flush
// (retry, the reset, a live event, heartbeats), the last chunk when the
// server closes; and an HTTP/1.1 stream's connection is hijacked, so that
// net/http's buffers and goroutine do not stay with it.
func TestEvents_Wire(t *testing.T) {
	for _, netHTTP := range []bool{false, true} {
		t.Run(map[bool]string{false: "hijacked", true: "net/http"}[netHTTP], func(t *testing.T) {
			ts := startServer(t, func(c *server.Config) { c.StreamHeartbeat = 30 * time.Millisecond })
			cid := createChannel(t, ts, "alice", "general", "bob")
			addr, hijacked := wireServer(t, ts, netHTTP)

			c := dialStream(t, addr, "cid="+cid, tokenFor(t, "bob"))
			status, headers := c.head(t)
			if want := "HTTP/1.1 200 OK\r\n"; status != want {
				t.Errorf("status line %q, want %q", status, want)
			}
			want := []string{"Cache-Control: no-store", "Content-Type: text/event-stream",
				"Transfer-Encoding: chunked", "X-Accel-Buffering: no"}
			if !slices.Equal(headers, want) {
				t.Errorf("headers %q, want %q", headers, want)
			}
			if got := c.chunk(t); got != "retry: 2000\n\n" {
				t.Fatalf("first chunk %q, want the retry field", got)
			}
			reset := c.event(t)
			if !regexp.MustCompile(`^id: ` + regexp.QuoteMeta(cid) + `/[^\n]*/\d+\nevent: reset\ndata: \{[^\n]*"reason":"no_position"[^\n]*\}\n\n$`).MatchString(reset) {
				t.Fatalf("reset chunk %q", reset)
			}

			sendMsg(t, ts, "alice", cid, "live0", "hello")
			live := c.event(t)
			if !regexp.MustCompile(`^id: [^\n]+\ndata: \{[^\n]*"id":"live0"[^\n]*\}\n\n$`).MatchString(live) {
				t.Fatalf("live chunk %q", live)
			}
			if got := c.chunk(t); got != ": ping\n\n" {
				t.Fatalf("chunk %q, want a heartbeat", got)
			}

			if err := ts.srv.Close(); err != nil {
				t.Fatal(err)
			}
			if last := c.event(t); last != "" {
				t.Fatalf("chunk %q after Close, want the last chunk", last)
			}
			if netHTTP {
				if n := hijacked.Load(); n != 0 {
					t.Errorf("%d connections hijacked", n)
				}
				return
			}
			_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("after the last chunk: read %d bytes, %v; want the connection closed", n, err)
			}
			if n := hijacked.Load(); n != 1 {
				t.Errorf("%d connections hijacked, want 1", n)
			}
		})
	}
}

// TestEvents_ClientGoneEndsStream: a client that closes its connection
// ends its stream at once (the heartbeat is 20 s away), whether the
// stream was hijacked or stayed with net/http.
func TestEvents_ClientGoneEndsStream(t *testing.T) {
	for _, netHTTP := range []bool{false, true} {
		t.Run(map[bool]string{false: "hijacked", true: "net/http"}[netHTTP], func(t *testing.T) {
			ts := startServer(t, func(c *server.Config) { c.StreamHeartbeat = 20 * time.Second })
			cid := createChannel(t, ts, "alice", "general")
			addr, _ := wireServer(t, ts, netHTTP)
			c := dialStream(t, addr, "cid="+cid, tokenFor(t, "alice"))
			c.head(t)
			c.chunk(t) // retry
			c.event(t) // reset
			waitFor(t, 5*time.Second, "the stream to open", func() bool { return metric(t, ts, "outpost_sse_connections") == 1 })
			c.conn.Close()
			waitFor(t, 5*time.Second, "the stream to end", func() bool { return metric(t, ts, "outpost_sse_connections") == 0 })
		})
	}
}

// TestEvents_HTTP2StaysWithNetHTTP: over HTTP/2, which has no connection
// to hijack, a stream is served through net/http's ResponseWriter.
func TestEvents_HTTP2StaysWithNetHTTP(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general")
	hs := httptest.NewUnstartedServer(ts.srv)
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(hs.Close)

	req, _ := http.NewRequest("GET", hs.URL+protocol.PathEvents+"?cid="+cid, nil)
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, "alice"))
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %d %q, want HTTP/2 200 text/event-stream", resp.Proto, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	for _, want := range []string{"retry: 2000\n", "\n", "id: " + cid + "/"} {
		l, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, want) {
			t.Fatalf("read %q, %v; want %q", l, err, want)
		}
	}
	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("the stream ended with %v, want its end", err)
	}
}
