package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun_ServesHealthzAndShutsDown starts outpostd with no setup but a
// free port and a temp DB, checks /healthz, and stops it.
func TestRun_ServesHealthzAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs logtest.Buffer
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "s.db")}, &logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready in 10s")
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body["status"] != "ok" {
		t.Errorf("/healthz = %d %v", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "dev secret") {
		t.Errorf("no dev-secret notice in the logs:\n%s", logs.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no shutdown in 20s")
	}
}

func TestRun_RejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--retention", "forever"}, {"--nope"}, {"extra"}, {"--write-rate", "-1"},
		{"--write-burst", "0"}, {"--sync-rate", "-5"}, {"--max-conns", "-1"}, {"--token-leeway", "-1s"}} {
		var out logtest.Buffer
		if err := run(context.Background(), args, &out, nil); err == nil {
			t.Errorf("run(%v) succeeded", args)
		}
	}
}

// TestRun_RefusesADatabaseInUse: a second outpostd on the same database
// file fails at start with a clear error instead of serving beside the
// first (each would deliver only its own writes live).
func TestRun_RefusesADatabaseInUse(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	first, err := sqlitestore.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	var logs logtest.Buffer
	err = run(context.Background(), []string{"--addr", "127.0.0.1:0", "--db", db}, &logs, nil)
	if !errors.Is(err, sqlitestore.ErrLocked) || !strings.Contains(err.Error(), "another outpostd") {
		t.Fatalf("run on a database in use: %v, want ErrLocked naming another outpostd", err)
	}
}

// TestRun_RateFlags: --write-rate and --write-burst reach the server: the
// write over the burst is a 429 with Retry-After.
func TestRun_RateFlags(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs logtest.Buffer
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "s.db"), "--secret", "s3cret",
			"--write-rate", "0.001", "--write-burst", "1"}, &logs, ready)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	tok, err := token.Issue([]byte("s3cret"), "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	for _, id := range []string{"a", "b"} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/channels", strings.NewReader(`{"type":"team","id":"`+id+`"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if codes[0] != 200 || codes[1] != http.StatusTooManyRequests {
		t.Errorf("two writes with a burst of 1: %v, want [200 429]", codes)
	}
}
