package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
	"github.com/outpostsync/outpost/token"
)

// startOnPostgres runs outpostd with --db dsn until the test ends, and
// returns its base URL.
func startOnPostgres(t *testing.T, dsn string, secret string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs logtest.Buffer
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--db", dsn, "--secret", secret, "--write-rate", "0"}, &logs, ready)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("no shutdown in 20s")
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("not ready in 30s:\n%s", logs.String())
	}
	return ""
}

type reply struct {
	status int
	body   map[string]any
}

// do makes a request (apitest.Do) and returns its status and its body
// decoded, whatever the status.
func do(t *testing.T, method, url, tok string, body any, headers ...string) reply {
	t.Helper()
	resp, data := apitest.Do(t, method, url, tok, body, headers...)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return reply{resp.StatusCode, out}
}

// TestRun_Postgres: outpostd --db postgres://... serves, /healthz names
// the store; while Postgres is unreachable a write gets 503 with a
// temporary code and /healthz says so; once it is back the node serves
// again by itself, and the retried write (same idempotency key) is
// applied once.
func TestRun_Postgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	u.Host = proxy.Addr()
	const secret = "pg-test-secret"
	base := startOnPostgres(t, u.String(), secret)
	tok, err := token.Issue([]byte(secret), "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	if r := do(t, "GET", base+"/healthz", "", nil); r.status != 200 || r.body["store"] != "postgres" {
		t.Fatalf("/healthz = %d %v, want 200 with store postgres", r.status, r.body)
	}
	if r := do(t, "POST", base+protocol.PathChannels, tok, protocol.CreateChannelRequest{Type: "team", ID: "pg"}); r.status >= 300 {
		t.Fatalf("create channel: %d %v", r.status, r.body)
	}
	send := func(id string) reply {
		return do(t, "POST", base+"/channels/team:pg/messages", tok,
			protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: id}}, protocol.HeaderIdempotencyKey, "key-"+id)
	}
	if r := send("m1"); r.status >= 300 {
		t.Fatalf("send m1: %d %v", r.status, r.body)
	}

	// Postgres goes away.
	proxy.Refuse()
	proxy.Reset()
	r := send("m2")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("send while Postgres is away: %d %v, want 503", r.status, r.body)
	}
	ae := protocol.APIError{Code: int(r.body["code"].(float64))}
	if !ae.Temporary() {
		t.Errorf("code %d is not temporary", ae.Code)
	}
	if r := do(t, "GET", base+"/healthz", "", nil); r.status != 503 || r.body["store"] != "postgres" {
		t.Errorf("/healthz while Postgres is away = %d %v, want 503", r.status, r.body)
	}

	// It returns: the client's retry goes through, once.
	proxy.Heal()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := send("m2")
		if r.status < 300 {
			break
		}
		if r.status != 503 || time.Now().After(deadline) {
			t.Fatalf("send after Postgres returned: %d %v", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond) // a client's retry backoff
	}
	if r := send("m2"); r.status >= 300 {
		t.Fatalf("repeat of m2: %d %v", r.status, r.body)
	}
	r = do(t, "GET", base+"/channels/team:pg/messages", tok, nil)
	msgs, _ := r.body["messages"].([]any)
	if r.status != 200 || len(msgs) != 2 {
		t.Fatalf("messages after the outage: %d %v, want m1 and m2 once each", r.status, r.body)
	}
	if r := do(t, "GET", base+"/healthz", "", nil); r.status != 200 {
		t.Errorf("/healthz after Postgres returned = %d %v", r.status, r.body)
	}
}
