//go:build unix

package sqlitestore_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

// TestOpen_FilesArePrivate: whatever the umask, every file the store
// makes (the database, its -wal, -shm and .lock files) is 0600, and an
// existing world-readable store is made private.
// Not parallel: it sets the process umask.
func TestOpen_FilesArePrivate(t *testing.T) {
	for _, umask := range []int{0o022, 0o002, 0} {
		old := syscall.Umask(umask)
		func() {
			defer syscall.Umask(old)
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "server.db")
			st, err := sqlitestore.Open(ctx, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Update(ctx, func(tx server.Tx) error {
				return tx.PutUser(protocol.User{ID: "alice", Version: 1})
			}); err != nil {
				t.Fatal(err)
			}
			checkModes(t, umask, path)
		}()
	}

	// A store an older version left 0644 is tightened on open.
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "server.db")
	st, err := sqlitestore.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, p := range []string{path, path + ".lock"} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err = sqlitestore.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(ctx, func(tx server.Tx) error { return tx.PutUser(protocol.User{ID: "bob", Version: 1}) }); err != nil {
		t.Fatal(err)
	}
	checkModes(t, 0o022, path)
}

func checkModes(t *testing.T, umask int, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	base := filepath.Base(path)
	if want := []string{base, base + "-shm", base + "-wal", base + ".lock"}; !slices.Equal(names, want) {
		t.Errorf("umask %03o: the store made %v, want %v", umask, names, want)
	}
	for _, name := range names {
		p := filepath.Join(filepath.Dir(path), name)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("umask %03o: %v", umask, err)
		}
		if got, want := st.Mode().Perm(), fs.FileMode(0o600); got != want {
			t.Errorf("umask %03o: %s has mode %v, want %v", umask, filepath.Base(p), got, want)
		}
	}
}
