package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture copies testdata/fixture, a small module with its listing
// checked in, to a directory of the test's own.
func fixture(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "fixture"))); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// check runs the command on root and returns its exit code and error
// output.
func check(tb testing.TB, root string, args ...string) (int, string) {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, root, &stdout, &stderr)
	return code, stderr.String()
}

func writeFile(tb testing.TB, path, data string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestListing_Fixture(t *testing.T) {
	dir := fixture(t)
	if code, stderr := check(t, dir); code != 0 {
		t.Fatalf("check of the unchanged fixture: exit %d, want 0:\n%s", code, stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, listingFile))
	if err != nil {
		t.Fatal(err)
	}
	listed := string(data)
	for _, want := range []string{
		"pkg example.com/fixture, const Timeout time.Duration = 5000000000",
		"pkg example.com/fixture, func Open(ctx context.Context, name string) (*Thing, error)",
		"pkg example.com/fixture, method (Thing) Reset()",
		"pkg example.com/fixture, method (*Thing) Close() error",
		"pkg example.com/fixture, method (Set[T]) Has(v T) bool",
		"pkg example.com/fixture, type Store interface { Get, seal }",
		"pkg example.com/fixture/sub, func Wrap(t *fixture.Thing) fixture.Kind",
	} {
		if !strings.Contains(listed, want+"\n") {
			t.Errorf("listing lacks %q", want)
		}
	}
	// Internal packages, commands, test helpers and unexported names
	// are not part of the API.
	for _, unwanted := range []string{"Secret", "Exported", "Check", "helper", "hidden", "internal()"} {
		if strings.Contains(listed, unwanted) {
			t.Errorf("listing names %q", unwanted)
		}
	}
}

func TestCheck_FailsOnChange(t *testing.T) {
	tests := []struct {
		name     string
		change   func(tb testing.TB, dir string)
		wantDiff string
	}{
		{
			name: "added",
			change: func(tb testing.TB, dir string) {
				writeFile(tb, filepath.Join(dir, "added.go"), "package fixture\n\nfunc Added(n int) string { return \"\" }\n")
			},
			wantDiff: "+pkg example.com/fixture, func Added(n int) string",
		},
		{
			name: "removed",
			change: func(tb testing.TB, dir string) {
				path := filepath.Join(dir, "fixture.go")
				data, err := os.ReadFile(path)
				if err != nil {
					tb.Fatal(err)
				}
				src := strings.Replace(string(data), "func (t *Thing) Close() error { return nil }", "", 1)
				writeFile(tb, path, src)
			},
			wantDiff: "-pkg example.com/fixture, method (*Thing) Close() error",
		},
		{
			name: "signature changed",
			change: func(tb testing.TB, dir string) {
				writeFile(tb, filepath.Join(dir, "sub", "sub.go"),
					"package sub\n\nimport \"example.com/fixture\"\n\nfunc Wrap(t fixture.Thing) fixture.Kind { return 0 }\n")
			},
			wantDiff: "+pkg example.com/fixture/sub, func Wrap(t fixture.Thing) fixture.Kind",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fixture(t)
			tt.change(t, dir)
			code, stderr := check(t, dir)
			if code != 1 {
				t.Fatalf("check after the change: exit %d, want 1:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "\n"+tt.wantDiff+"\n") {
				t.Errorf("diff lacks %q:\n%s", tt.wantDiff, stderr)
			}
			if !strings.Contains(stderr, "go run ./internal/tools/apilisting -w") {
				t.Errorf("error does not say how to update the listing:\n%s", stderr)
			}
			// Writing the listing on purpose makes the check pass.
			if code, stderr := check(t, dir, "-w"); code != 0 {
				t.Fatalf("-w: exit %d:\n%s", code, stderr)
			}
			if code, stderr := check(t, dir); code != 0 {
				t.Fatalf("check after -w: exit %d, want 0:\n%s", code, stderr)
			}
		})
	}
}

func TestCheck_UnexportedChangeIsNoDiff(t *testing.T) {
	dir := fixture(t)
	writeFile(t, filepath.Join(dir, "more.go"), "package fixture\n\nfunc another() {}\n\ntype local struct{ Field int }\n")
	if code, stderr := check(t, dir); code != 0 {
		t.Fatalf("check after an unexported change: exit %d, want 0:\n%s", code, stderr)
	}
}

func TestCounts(t *testing.T) {
	dir := fixture(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-counts"}, dir, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{
		"example.com/fixture ", "15 identifiers (9 package-level)",
		"example.com/fixture/sub ", "1 identifiers (1 package-level)",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("counts lack %q:\n%s", want, stdout.String())
		}
	}
}
