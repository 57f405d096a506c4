package sqlitestore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/outpostsync/outpost/server/sqlitestore"
)

// TestServerID_CopyKeepsIt: a database restored from a copy of the file is
// the same server: it keeps its id. A new file is another server.
func TestServerID_CopyKeepsIt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	orig := filepath.Join(dir, "server.db")
	st, err := sqlitestore.Open(ctx, orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.ServerID(ctx)
	if err != nil || id == "" {
		t.Fatalf("ServerID = %q, %v", id, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(dir, "restored.db")
	if err := os.WriteFile(restored, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, same := range map[string]bool{restored: true, filepath.Join(dir, "new.db"): false} {
		st, err := sqlitestore.Open(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.ServerID(ctx)
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if (got == id) != same {
			t.Errorf("%s: ServerID %q, the original's %q; want same = %v", filepath.Base(path), got, id, same)
		}
	}
}
