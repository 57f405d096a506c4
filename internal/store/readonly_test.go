package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
)

// readOnlyDir returns a folder this process cannot write to: one without
// write permission, or, for root (which writes through permissions),
// /sys, read-only in a container. It skips when there is none.
func readOnlyDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.Chmod(dir, 0o755) })
	probe := filepath.Join(dir, "probe")
	if f, err := os.Create(probe); err != nil {
		return dir
	} else {
		f.Close()
		os.Remove(probe)
	}
	if f, err := os.Create("/sys/outpost-probe.db"); err == nil {
		f.Close()
		os.Remove("/sys/outpost-probe.db")
		tb.Skip("no read-only folder available")
	}
	return "/sys"
}

// TestOpen_NotWritable: a store that cannot be written (a read-only disk,
// a folder or file of another user) gives an *OpenError wrapping
// ErrNotWritable, not a crash or an error to match by its text.
func TestOpen_NotWritable(t *testing.T) {
	_, err := store.Open(context.Background(), filepath.Join(readOnlyDir(t), "a.db"), store.Options{})
	var oe *store.OpenError
	if !errors.As(err, &oe) || !errors.Is(err, store.ErrNotWritable) {
		t.Fatalf("Open in a read-only folder: %v, want an *OpenError wrapping ErrNotWritable", err)
	}
}
