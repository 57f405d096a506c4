package outpost_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// loadServer is cmd/outpostd run as a child process, so its memory can be
// read on its own and it can be killed and started again on one port.
type loadServer struct {
	bin, addr, db string
	cmd           *exec.Cmd
	peakKB        int // the highest VmHWM seen over the server's lives
}

// newLoadServer builds cmd/outpostd into dir and picks a free loopback
// port and a database in dir for it; start runs it.
func newLoadServer(tb testing.TB, dir string) *loadServer {
	tb.Helper()
	bin := filepath.Join(dir, "outpostd")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/outpostd").CombinedOutput(); err != nil {
		tb.Fatalf("build outpostd: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &loadServer{bin: bin, addr: addr, db: filepath.Join(dir, "server.db")}
}

func (s *loadServer) start(tb testing.TB) {
	tb.Helper()
	cmd := exec.Command(s.bin, "--addr", s.addr, "--db", s.db, "--secret", string(secret))
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("outpostd did not listen on %s: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for the port, with a deadline
	}
}

// notePeak reads the server's peak resident memory so far.
func (s *loadServer) notePeak() {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return // not Linux: no figure
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			s.peakKB = max(s.peakKB, kb)
		}
	}
}

func (s *loadServer) kill() {
	s.notePeak()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

func loadEnvInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestLoad_ServerRestart connects many clients to one outpostd, kills the
// server, lets every client write offline, and starts the server again:
// every client must reconnect (spread by jittered backoff, not all at
// once), drain its outbox and sync, and the server must hold each write
// once. It logs the reconnect spread, the time until all are synced and
// the server's peak memory. OUTPOST_LOAD_CLIENTS sets the number of
// clients (default 40; the report in docs/BENCHMARKS.md used 1,000).
func TestLoad_ServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	n := loadEnvInt(t, "OUTPOST_LOAD_CLIENTS", 40)
	const perChannel = 10
	ctx := context.Background()
	dir := t.TempDir()

	srv := newLoadServer(t, dir)
	addr := srv.addr
	srv.start(t)
	defer func() { srv.kill() }()
	url := "http://" + addr

	// Channels of perChannel users each; user i is in channel i/perChannel.
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("u%04d", i)
	}
	admin := benchREST(t, url, "admin")
	var cids []string
	for lo := 0; lo < n; lo += perChannel {
		ch, err := admin.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: fmt.Sprintf("load%04d", lo),
			Members: users[lo:min(lo+perChannel, n)]})
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, ch.Channel.CID)
	}

	// The clients, opened a few at a time.
	clients := make([]*outpost.Client, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			tok, _ := token.Issue(secret, users[i], 2*time.Hour)
			c, err := outpost.Open(ctx, outpost.Config{
				ServerURL: url, UserID: users[i], Token: tok, DBPath: filepath.Join(dir, users[i]+".db"),
				ConnectTimeout: 30 * time.Second,
				Client:         client.Config{MinReconnectDelay: 200 * time.Millisecond, MaxReconnectDelay: 3 * time.Second},
				Sync:           syncmanager.Options{RetryMinDelay: 100 * time.Millisecond, RetryMaxDelay: 2 * time.Second},
			})
			if err != nil {
				errs <- fmt.Errorf("%s: %w", users[i], err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	for err := range errs {
		t.Fatal(err)
	}
	for _, c := range clients {
		waitIdle(t, c, 2*time.Minute)
	}
	t.Logf("%d clients connected and synced", n)

	// Kill the server; every client sees it go and writes offline.
	srv.kill()
	for _, c := range clients {
		waitFor(t, "clients offline", func() bool { return !c.Status().Online })
	}
	type write struct{ cid, id string }
	var writes []write
	for i, c := range clients {
		cid := cids[i/perChannel]
		for k := range 2 {
			id, err := sentID(c.SendMessage(ctx, cid, outpost.NewMessage{Text: fmt.Sprintf("offline %d from %s", k, users[i])}))
			if err != nil {
				t.Fatal(err)
			}
			writes = append(writes, write{cid, id})
		}
	}

	// Restart, and time each client's way back.
	online, synced := make([]time.Duration, n), make([]time.Duration, n)
	var mu sync.Mutex
	restart := time.Now()
	for i, c := range clients {
		unsub := c.OnStatus(func(s syncmanager.Status) {
			mu.Lock()
			defer mu.Unlock()
			if s.Online && online[i] == 0 {
				online[i] = time.Since(restart)
			}
			if online[i] != 0 && synced[i] == 0 && s.Synced && !s.Syncing && s.Pending == 0 {
				synced[i] = time.Since(restart)
			}
		})
		defer unsub()
	}
	srv.start(t)
	for _, c := range clients {
		waitIdle(t, c, 5*time.Minute)
	}
	allSynced := time.Since(restart)
	srv.notePeak()

	// Every offline write is on the server once.
	want := map[string]int{}
	for _, w := range writes {
		want[w.cid]++
	}
	for cid, count := range want {
		resp, err := admin.QueryMessages(ctx, cid, client.MessagesQuery{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, m := range resp.Messages {
			seen[m.ID]++
		}
		got := 0
		for _, w := range writes {
			if w.cid == cid {
				if seen[w.id] != 1 {
					t.Errorf("%s: message %s is on the server %d times", cid, w.id, seen[w.id])
				}
				got++
			}
		}
		if got != count {
			t.Errorf("%s: %d writes checked, want %d", cid, got, count)
		}
	}

	mu.Lock()
	reconnect := slices.Clone(online)
	synced = slices.Clone(synced)
	mu.Unlock()
	slices.Sort(reconnect)
	slices.Sort(synced)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("restart: %d clients; back online after restart: min %v, p50 %v, p90 %v, max %v (spread %v); drained and synced: p50 %v, all %v; server peak RSS %.1f MB",
		n, ms(reconnect[0]), ms(pct(reconnect, 0.5)), ms(pct(reconnect, 0.9)), ms(reconnect[n-1]), ms(reconnect[n-1]-reconnect[0]),
		ms(pct(synced, 0.5)), ms(allSynced), float64(srv.peakKB)/1024)
	if reconnect[0] == 0 {
		t.Errorf("a client never reported coming back online")
	}
}
