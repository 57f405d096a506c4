package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildCLI builds the real command, for tests that kill it.
func buildCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "outpost")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func cliCmd(bin string, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestFirstCommand_KilledNeverLocksTheOwnerOut: the first command on a new
// DB path is SIGKILLed at a random point; the next command always works.
// OUTPOST_KILL_TRIALS sets the number of trials (the long form: 100).
func TestFirstCommand_KilledNeverLocksTheOwnerOut(t *testing.T) {
	bin := buildCLI(t)
	url := startServer(t)
	base := userEnv(t, url, "alice")
	trials := 4
	if v, err := strconv.Atoi(os.Getenv("OUTPOST_KILL_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	dir := t.TempDir()
	// How long a whole first command takes here, to spread the kills.
	start := time.Now()
	if out, err := cliCmd(bin, with(base, "OUTPOST_DB", filepath.Join(dir, "calibrate.db")), "sync").CombinedOutput(); err != nil {
		t.Fatalf("calibration: %v\n%s", err, out)
	}
	span := time.Since(start)
	for i := range trials {
		env := with(base, "OUTPOST_DB", filepath.Join(dir, fmt.Sprintf("new-%d.db", i)))
		cmd := cliCmd(bin, env, "sync")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := rand.N(span)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		timer := time.NewTimer(delay)
		select {
		case <-exited:
			timer.Stop()
		case <-timer.C:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		for _, args := range [][]string{{"sync"}, {"status"}} {
			out, err := cliCmd(bin, env, args...).CombinedOutput()
			if code := exitCode(err); code != 0 {
				t.Fatalf("trial %d, killed after %v: then %v exits %d:\n%s", i, delay, args, code, out)
			}
		}
	}
}

// TestFirstCommand_TwoAtOnce: first commands started together on one new
// DB path all succeed.
func TestFirstCommand_TwoAtOnce(t *testing.T) {
	bin := buildCLI(t)
	url := startServer(t)
	base := userEnv(t, url, "alice")
	for round := range 5 {
		env := with(base, "OUTPOST_DB", filepath.Join(t.TempDir(), "shared.db"))
		var cmds []*exec.Cmd
		var outs []*strings.Builder
		for range 3 {
			cmd := cliCmd(bin, env, "sync")
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cmds {
			if code := exitCode(c.Wait()); code != 0 {
				t.Errorf("round %d: command %d exits %d:\n%s", round, i, code, outs[i])
			}
		}
	}
}

// TestFirstCommand_FinishesAStoreBegunInPlace: a store an older version
// began in place and did not finish (an empty migrations table) is
// finished by the next command, not refused.
func TestFirstCommand_FinishesAStoreBegunInPlace(t *testing.T) {
	url := startServer(t)
	env := userEnv(t, url, "alice")
	db, err := sql.Open("sqlite", "file:"+env["OUTPOST_DB"]+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE outpost_migrations (set_name TEXT NOT NULL, version INTEGER NOT NULL,
		name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL, PRIMARY KEY (set_name, version))`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	wantOK(t, cli(t, env, "sync"))
	wantOK(t, cli(t, env, "status"))
}
