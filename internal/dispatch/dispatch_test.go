package dispatch_test

import (
	"log/slog"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/internal/dispatch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQueue: callbacks run in order, a panic is contained, Stop runs what
// is queued and waits, and a Push after Stop is dropped.
func TestQueue(t *testing.T) {
	q := dispatch.New(slog.New(slog.DiscardHandler), "test callback")
	var mu sync.Mutex
	var got []int
	q.Start()
	for i := 0; i < 100; i++ {
		if i == 50 {
			q.Push(func() { panic("bad callback") })
		}
		q.Push(func() { mu.Lock(); got = append(got, i); mu.Unlock() })
	}
	q.Stop()
	q.Stop() // idempotent
	q.Push(func() { t.Error("ran after Stop") })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 100 {
		t.Fatalf("ran %d callbacks, want 100", len(got))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("callback %d ran at position %d", v, i)
		}
	}
}

func TestCall_ContainsPanics(t *testing.T) {
	ran := false
	dispatch.Call(slog.New(slog.DiscardHandler), "x", func() { panic("boom") })
	dispatch.Call(slog.New(slog.DiscardHandler), "x", func() { ran = true })
	if !ran {
		t.Error("the call after a panic did not run")
	}
}
