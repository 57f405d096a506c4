package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestQuickstart runs the README's main command and checks that it tells
// the whole story and ends with equal stores.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out lockedBuffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"[alice] sync status: online and synced",
		"bob goes offline",
		"[bob] sync status: offline",
		"[pending] bob:",
		"bob comes back",
		"[bob] post-sync callback: caught up, 5 messages",
		"both local stores equal the server's 5 messages",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "post-sync callback"); n != 1 {
		t.Errorf("post-sync callback ran %d times, want once", n)
	}
}
