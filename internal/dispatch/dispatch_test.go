package dispatch_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

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

// TestQueue_StopWithin: a callback that does not return holds StopWithin
// only until its ctx ends; what is queued behind it is dropped, and the
// goroutine ends once the callback returns.
func TestQueue_StopWithin(t *testing.T) {
	q := dispatch.New(slog.New(slog.DiscardHandler), "test callback")
	q.Start()
	entered, unblock := make(chan struct{}), make(chan struct{})
	q.Push(func() { close(entered); <-unblock })
	q.Push(func() { t.Error("a callback queued behind a stuck one ran after StopWithin gave up") })
	<-entered
	if !q.InCallback() {
		t.Error("InCallback = false while a callback runs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.StopWithin(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("StopWithin = %v, want the ctx's deadline", err)
	}
	close(unblock)
	// goleak in TestMain checks that the goroutine ended.
}

// TestQueue_AbandonFromCallback: a callback may stop its own queue
// without waiting for itself.
func TestQueue_AbandonFromCallback(t *testing.T) {
	q := dispatch.New(slog.New(slog.DiscardHandler), "test callback")
	q.Start()
	done := make(chan struct{})
	q.Push(func() { q.Abandon(); close(done) })
	q.Push(func() { t.Error("ran after Abandon") })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Abandon from a callback did not return")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.StopWithin(ctx); err != nil {
		t.Errorf("StopWithin after Abandon = %v", err)
	}
}
