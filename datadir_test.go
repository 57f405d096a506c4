package outpost_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/outpostsync/outpost"
)

func TestDefaultDBPath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks the XDG rule")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)

	t.Setenv("XDG_DATA_HOME", "")
	got, err := outpost.DefaultDBPath("Acme Chat", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, ".local", "share", "Acme Chat", "alice.db"); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if fi, err := os.Stat(filepath.Dir(got)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("folder: %v, %v; want mode 0700", fi, err)
	}

	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	if got, _ := outpost.DefaultDBPath("acme", "alice"); got != filepath.Join(xdg, "acme", "alice.db") {
		t.Fatalf("with XDG_DATA_HOME: %s", got)
	}
	t.Setenv("XDG_DATA_HOME", "relative/dir")
	if got, _ := outpost.DefaultDBPath("acme", "alice"); got != filepath.Join(home, ".local", "share", "acme", "alice.db") {
		t.Fatalf("with a relative XDG_DATA_HOME: %s", got)
	}
	for _, bad := range [][2]string{{"", "alice"}, {"acme", ""}, {"a/b", "alice"}, {"acme", ".."}} {
		if _, err := outpost.DefaultDBPath(bad[0], bad[1]); err == nil {
			t.Errorf("DefaultDBPath(%q, %q) = nil error", bad[0], bad[1])
		}
	}
}
