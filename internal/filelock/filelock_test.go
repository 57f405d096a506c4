package filelock_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/outpostsync/outpost/internal/filelock"
)

func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	ex, err := filelock.TryLock(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filelock.TryLock(path, false); !errors.Is(err, filelock.ErrLocked) {
		t.Fatalf("second exclusive lock: %v, want ErrLocked", err)
	}
	if _, err := filelock.TryLock(path, true); !errors.Is(err, filelock.ErrLocked) {
		t.Fatalf("shared lock beside an exclusive one: %v, want ErrLocked", err)
	}
	ex.Close()

	sh1, err := filelock.TryLock(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sh1.Close()
	sh2, err := filelock.TryLock(path, true)
	if err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	defer sh2.Close()
	if _, err := filelock.TryLock(path, false); !errors.Is(err, filelock.ErrLocked) {
		t.Fatalf("exclusive lock beside shared ones: %v, want ErrLocked", err)
	}
}
