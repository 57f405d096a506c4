package webtest_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// scrape returns every sample of GET /metrics by its series text
// (`name{label="v",...}` with labels as the server wrote them).
func scrape(tb testing.TB, ts *testServer) map[string]float64 {
	tb.Helper()
	resp, body := ts.do(tb, "GET", server.PathMetrics, nil)
	if resp.StatusCode != 200 {
		tb.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			tb.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// metric returns one series of GET /metrics, 0 when absent.
func metric(tb testing.TB, ts *testServer, series string) float64 {
	tb.Helper()
	return scrape(tb, ts)[series]
}

func TestMetrics_Scraped(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob")
	sendMsg(t, ts, "alice", cid, "m1", "hello")
	ts.do(t, "GET", "/channels/"+cid, nil) // 401
	c := openStream(t, ts, "cid="+cid, auth(t, "bob")...)
	c.nextControl(t, "reset")
	sendMsg(t, ts, "alice", cid, "m2", "live")
	c.nextMessage(t)

	m := scrape(t, ts)
	for series, want := range map[string]float64{
		`outpost_http_requests_total{code="201",route="POST /channels/{cid}/messages"}`: 2,
		`outpost_http_requests_total{code="401",route="GET /channels/{cid}"}`:           1,
		`outpost_events_appended_total`:                                                 4, // created, member added x? see below
		`outpost_sse_connections`:                                                       1,
		`outpost_websocket_connections`:                                                 0,
		`outpost_sse_events_total{how="live"}`:                                          1,
		`outpost_sse_resets_total`:                                                      1,
	} {
		got, ok := m[series]
		if series == `outpost_events_appended_total` {
			if !ok || got < 3 {
				t.Errorf("%s = %v, want at least 3", series, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	for _, name := range []string{
		`outpost_http_request_duration_seconds_count{route="POST /channels/{cid}/messages"}`,
		`outpost_store_duration_seconds_count{op="update"}`,
		`outpost_store_duration_seconds_count{op="view"}`,
		`outpost_fanout_drops_total`,
		`outpost_fanout_cutoffs_total{transport="sse"}`,
		`outpost_sync_pages_total`,
		`go_goroutines`,
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("no series %s", name)
		}
	}
	c.Close()
	waitFor(t, 5e9, "the stream gauge to drop", func() bool { return metric(t, ts, "outpost_sse_connections") == 0 })
}

func TestReadyz(t *testing.T) {
	ts := startServer(t, nil)
	if resp, body := ts.do(t, "GET", server.PathReadyz, nil); resp.StatusCode != 200 {
		t.Fatalf("ready: %d %s", resp.StatusCode, body)
	}
	ts.store.Close()
	// A closed store is not ready: 503, and 503 is the one 5xx allowed.
	req, _ := http.NewRequest("GET", ts.URL+server.PathReadyz, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("closed store: %d, want 503", resp.StatusCode)
	}
}

// TestAccessLog: one line per request with method, route, status,
// duration and user, and never the token, even from the URL.
func TestAccessLog(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general")
	tok := tokenFor(t, "alice")
	c := openStream(t, ts, "cid="+cid+"&access_token="+tok)
	c.nextControl(t, "reset")
	c.Close()
	ts.do(t, "GET", "/channels/"+cid+"?token="+tok+"&bogus=1", nil)
	ts.do(t, "PATCH", "/channels/"+cid, nil) // 405
	waitFor(t, 5e9, "the stream's log line", func() bool { return strings.Count(ts.logs.String(), `"route":"GET /events"`) == 1 })
	logs := ts.logs.String()
	if strings.Contains(logs, tok) {
		t.Fatalf("the token is in the log:\n%s", logs)
	}
	for _, want := range []string{
		`"method":"POST","route":"POST /channels","path":"/channels","status":200`,
		`"route":"GET /events","path":"/events","status":200`,
		// A token in the URL of a REST call is refused (only /connect
		// and /events take one).
		`"route":"GET /channels/{cid}","path":"/channels/messaging:general","status":401`,
		`"route":"unmatched","path":"/channels/messaging:general","status":405`,
		`"user":"alice"`,
		`"duration":`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log with %s in:\n%s", want, logs)
		}
	}
}

// TestOrigins: CORS for allowed origins, 403 for others, non-browser
// clients (no Origin) and the server's own origin pass; the WebSocket
// checks the same list.
func TestOrigins(t *testing.T) {
	const allowed = "https://app.example.com"
	ts := startServer(t, func(c *server.Config) { c.AllowedOrigins = []string{allowed} })
	cid := createChannel(t, ts, "alice", "general")

	resp, _ := ts.do(t, "OPTIONS", "/channels/"+cid+"/messages", nil,
		"Origin", allowed, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != allowed ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := ts.do(t, "OPTIONS", "/channels/"+cid+"/messages", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %s", resp.StatusCode, body)
	}
	resp, _ = ts.do(t, "GET", "/channels/"+cid, nil, append(auth(t, "alice"), "Origin", allowed)...)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != allowed ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed origin GET: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = ts.do(t, "GET", "/channels/"+cid, nil, append(auth(t, "alice"), "Origin", "https://evil.example")...)
	if resp.StatusCode != 403 || !strings.Contains(string(body), `"code":17`) {
		t.Fatalf("foreign origin GET: %d %s", resp.StatusCode, body)
	}
	resp, _ = ts.do(t, "GET", "/channels/"+cid, nil, append(auth(t, "alice"), "Origin", ts.URL)...)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("own origin GET: %d %v", resp.StatusCode, resp.Header)
	}
	if _, resp, _ := tryStream(t, ts, "cid="+cid, append(auth(t, "alice"), "Origin", "https://evil.example")...); resp.StatusCode != 403 {
		t.Fatalf("foreign origin stream: %d", resp.StatusCode)
	}
	c := openStream(t, ts, "cid="+cid, append(auth(t, "alice"), "Origin", allowed)...)
	if got := c.resp.Header.Get("Access-Control-Allow-Origin"); got != allowed {
		t.Errorf("allowed origin stream ACAO %q", got)
	}
	c.Close()

	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + protocol.PathConnect
	for origin, want := range map[string]int{"https://evil.example": 403, allowed: 101, "": 101} {
		h := http.Header{"Authorization": {"Bearer " + tokenFor(t, "alice")}}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := websocket.Dial(context.Background(), wsURL, &websocket.DialOptions{HTTPHeader: h})
		if resp == nil || resp.StatusCode != want {
			t.Errorf("WebSocket from %q: %v %v, want %d", origin, resp, err, want)
		}
		if ws != nil {
			ws.Close(websocket.StatusNormalClosure, "")
		}
	}
}

func TestWebPage_Served(t *testing.T) {
	ts := startServer(t, nil)
	for path, want := range map[string]string{"/": "<title>Outpost</title>", "/web/app.js": "EventSource", "/web/app.css": "#status"} {
		resp, body := ts.do(t, "GET", path, nil)
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, no %q", path, resp.StatusCode, want)
		}
	}
	if resp, _ := ts.do(t, "GET", "/web/nope.js", nil); resp.StatusCode != 404 {
		t.Errorf("missing file: %d", resp.StatusCode)
	}
}

// TestOrigins_Wildcard: "*" lets every origin in, without credentials.
func TestOrigins_Wildcard(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.AllowedOrigins = []string{"*"} })
	cid := createChannel(t, ts, "alice", "general")
	resp, _ := ts.do(t, "GET", "/channels/"+cid, nil, append(auth(t, "alice"), "Origin", "https://any.example")...)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://any.example" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("wildcard: %d %v", resp.StatusCode, resp.Header)
	}
}
