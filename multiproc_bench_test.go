package outpost_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// TestChangeWriterChild is the writing process of
// BenchmarkChangeAcrossProcesses: it queues OUTPOST_CHANGE_N messages,
// 10ms apart, each with the time it was queued as its text.
func TestChangeWriterChild(t *testing.T) {
	url, db := os.Getenv("OUTPOST_CHANGE_URL"), os.Getenv("OUTPOST_CHANGE_DB")
	if url == "" {
		t.Skip("run by BenchmarkChangeAcrossProcesses")
	}
	n, _ := strconv.Atoi(os.Getenv("OUTPOST_CHANGE_N"))
	ctx := context.Background()
	tok, _ := token.Issue(secret, "bob", time.Hour)
	c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: "bob", Token: tok, DBPath: db, ConnectTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		text := strconv.FormatInt(time.Now().UnixNano(), 10)
		if _, err := c.SendMessage(ctx, "team:bench", outpost.NewMessage{ID: fmt.Sprintf("w-%06d", i), Text: text}); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkChangeAcrossProcesses measures the delay from a write
// committed in one process to the change notification of another process
// on the same store (the change log, polled through data_version): a
// child process queues b.N writes, 10ms apart, and this one's OnChange
// listener notes when it hears of each. It reports the delay's p50, p99
// and max.
func BenchmarkChangeAcrossProcesses(b *testing.B) {
	ctx := context.Background()
	ts := startServer(b)
	dbPath := filepath.Join(b.TempDir(), "bob.db")
	c := openAt(b, ts.URL, "bob", dbPath)
	outpost.ConnOf(c).Disconnect() // the writes stay in the outbox: only the store is measured
	var mu sync.Mutex
	heardAt := map[string]time.Time{}
	done := make(chan struct{})
	c.OnChange(func(ch syncmanager.Change) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ch.Messages {
			if _, ok := heardAt[id]; !ok && strings.HasPrefix(id, "w-") {
				heardAt[id] = now
				if len(heardAt) == b.N {
					close(done)
				}
			}
		}
	})
	b.ResetTimer()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChangeWriterChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OUTPOST_CHANGE_URL="+ts.URL, "OUTPOST_CHANGE_DB="+dbPath, "OUTPOST_CHANGE_N="+strconv.Itoa(b.N))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("writer: %v\n%s", err, out)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("heard %d of %d writes", len(heardAt), b.N)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	var delays []time.Duration
	for id, at := range heardAt {
		m, err := outpost.StoreOf(c).Message(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		sent, err := strconv.ParseInt(m.Text, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		delays = append(delays, at.Sub(time.Unix(0, sent)))
	}
	slices.Sort(delays)
	q := func(p float64) float64 {
		return float64(delays[min(len(delays)-1, int(p*float64(len(delays))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(q(1), "max_ms")
	b.ReportMetric(0, "ns/op")
}
