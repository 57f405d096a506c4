package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/internal/logtest"
)

// TestSend_OfflineIsQuickAndSaysWhy: with the server down, send returns
// without waiting out its --timeout (a server that refuses is known to be
// unreachable at once), exit 0, says queued and why the server is
// unreachable. The timeout is set long, so that a slow start of the
// command on a loaded machine is not taken for a wait.
func TestSend_OfflineIsQuickAndSaysWhy(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general")
	env := userEnv(t, url, "alice")
	wantOK(t, cli(t, env, "sync"))

	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	for _, tt := range []struct {
		name, server, why string
	}{
		{"refused", apitest.DeadURL(t), "connection refused"},
		{"tls against plain http", strings.Replace(plain.URL, "http://", "https://", 1), "TLS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := with(userEnv(t, url, "alice"), "OUTPOST_SERVER", tt.server)
			start := time.Now()
			r := cli(t, e, "send", "--timeout", "30s", cid, "offline")
			took := time.Since(start)
			wantOK(t, r)
			if took >= 15*time.Second {
				t.Errorf("offline send took %s: it waited for its 30s --timeout", took)
			}
			if !strings.Contains(r.stderr, "queued (offline)") || !strings.Contains(r.stderr, tt.why) {
				t.Errorf("stderr = %q, want queued (offline) and %q", r.stderr, tt.why)
			}
			if strings.TrimSpace(r.stdout) == "" {
				t.Error("no message id on stdout")
			}
		})
	}
	// sync says why too.
	wantFail(t, cli(t, with(userEnv(t, url, "alice"), "OUTPOST_SERVER", apitest.DeadURL(t)), "sync"), exitOffline, "connection refused")
}

// TestSend_InterruptAfterIDLosesNothing: Ctrl-C while send waits for a
// server that accepts connections but never answers: the id was printed
// before, and the write is in the outbox.
func TestSend_InterruptAfterIDLosesNothing(t *testing.T) {
	// A fresh store: a store is bound to the server it synced with.
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "general")

	// A server that accepts and then says nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	silent := "http://" + ln.Addr().String()
	env := with(userEnv(t, url, "alice"), "OUTPOST_SERVER", silent)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	done := make(chan result, 1)
	go func() {
		done <- cliCtx(ctx, env, &stdout, &stderr, "send", cid, "interrupted")
	}()
	waitFor(t, "the id on stdout", func() bool { return strings.TrimSpace(stdout.String()) != "" })
	cancel() // Ctrl-C
	r := <-done
	id := strings.TrimSpace(stdout.String())
	p := cli(t, env, "pending")
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("exit %d, stderr %q; want 130, interrupted", r.code, r.stderr)
	}
	wantOK(t, p)
	if !strings.Contains(p.stdout, id) {
		t.Errorf("pending after the interrupt lacks %s:\n%s", id, p.stdout)
	}
}
