package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinary builds the real command and runs it, to prove the exit codes
// a script sees, not only what run returns.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "outpost")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(env []string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, stdout.String(), stderr.String()
		case errors.As(err, &ee):
			return ee.ExitCode(), stdout.String(), stderr.String()
		}
		t.Fatalf("run %v: %v", args, err)
		return 0, "", ""
	}

	code, stdout, _ := run(nil, "--help")
	if code != 0 || !strings.Contains(stdout, "EXIT CODES") || !strings.Contains(stdout, "watch") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
	missing := "OUTPOST_DB=" + filepath.Join(t.TempDir(), "no", "such.db")
	for _, tt := range []struct {
		env  []string
		args []string
		code int
	}{
		{nil, []string{"bogus"}, exitUsage},
		{nil, []string{"channels", "--bogus"}, exitUsage},
		{[]string{missing}, []string{"channels"}, exitDB},
		{[]string{"OUTPOST_SECRET=s"}, []string{"token"}, exitUsage},
	} {
		code, _, stderr := run(tt.env, tt.args...)
		if code != tt.code || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "outpost: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line", tt.args, code, stderr, tt.code)
		}
	}
	code, stdout, _ = run([]string{"OUTPOST_SECRET=s"}, "token", "--user", "alice")
	if code != 0 || strings.Count(stdout, ".") != 2 {
		t.Errorf("token: exit %d, stdout %q", code, stdout)
	}
}
