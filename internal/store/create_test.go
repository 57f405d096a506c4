package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/store"
)

// childEnv names the store a child process of these tests opens.
const childEnv = "OUTPOST_TEST_OPEN_CHILD"

// TestHelperProcess_Open is not a test: run by the tests below as a child
// process, it says "ready", waits for a line on stdin when asked to, opens
// the store named in its environment, and exits 0 if Open worked.
func TestHelperProcess_Open(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("a child process of other tests")
	}
	fmt.Println("ready")
	if os.Getenv(childEnv+"_WAIT") != "" {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	}
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err := db.Bind(context.Background(), "alice", false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	db.Close()
	os.Exit(0)
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	errb  *strings.Builder
}

func startChild(t *testing.T, path string, wait bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess_Open$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	if wait {
		cmd.Env = append(cmd.Env, childEnv+"_WAIT=1")
	}
	c := &child{cmd: cmd, errb: &strings.Builder{}}
	cmd.Stderr = c.errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewReader(stdout)
	if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q %v %s", line, err, c.errb)
	}
	return c
}

// wholeOrAbsent checks what a killed first open left at path: nothing, or
// a store with the SDK's migrations, which the outpost CLI accepts.
func wholeOrAbsent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return
	}
	// Read-write, as the CLI looks (mode=rw never creates the file): a
	// read-only connection cannot recover a WAL a killed process left.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM outpost_migrations WHERE set_name = 'outpost_local'`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("a killed first open left a store half made at %s: %d migrations, %v", path, n, err)
	}
}

// TestOpen_KilledDuringFirstOpen SIGKILLs a process at a random point of
// the first Open of a new path; the store it leaves is absent or whole,
// and the next Open always works. OUTPOST_KILL_TRIALS sets the number of
// trials (the long form: 200).
func TestOpen_KilledDuringFirstOpen(t *testing.T) {
	trials := 6
	if v, err := strconv.Atoi(os.Getenv("OUTPOST_KILL_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	dir := t.TempDir()
	// How long a child takes from "ready" to its exit here, to spread
	// the kills over it.
	var span time.Duration
	for i := range 2 {
		c := startChild(t, filepath.Join(dir, fmt.Sprintf("calibrate-%d.db", i)), false)
		start := time.Now()
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("calibration child: %v %s", err, c.errb)
		}
		span = max(span, time.Since(start)*5/4)
	}

	completed := 0
	for i := range trials {
		path := filepath.Join(dir, fmt.Sprintf("new-%d.db", i))
		c := startChild(t, path, false)
		delay := rand.N(span)
		exited := make(chan error, 1)
		go func() { exited <- c.cmd.Wait() }()
		timer := time.NewTimer(delay)
		select {
		case err := <-exited:
			timer.Stop()
			if err != nil {
				t.Fatalf("trial %d: child failed before the kill: %v %s", i, err, c.errb)
			}
			completed++
		case <-timer.C:
			_ = c.cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		wholeOrAbsent(t, path)
		db, err := store.Open(context.Background(), path, store.Options{})
		if err != nil {
			t.Fatalf("trial %d (killed after %v): the next Open: %v", i, delay, err)
		}
		if err := db.Bind(context.Background(), "alice", false); err != nil {
			t.Fatalf("trial %d: %v", i, err)
		}
		db.Close()
	}
	t.Logf("%d trials, kills spread over %v; %d children finished first", trials, span, completed)
}

// TestOpen_StaleCreatingFilesAreRemoved: what a killed creator left beside
// the path goes on a later Open once it is old; a fresh one stays (its
// creator may be at work).
func TestOpen_StaleCreatingFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "local.db")
	stale, fresh := path+".creating-1-dead", path+".creating-2-busy"
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("SQLite format 3\x00"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale %s: %v, want removed", filepath.Base(stale), err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh %s: %v, want kept", filepath.Base(fresh), err)
	}
}

// TestOpen_ManyProcessesOpenANewPath: processes started together on one
// new path all open it.
func TestOpen_ManyProcessesOpenANewPath(t *testing.T) {
	const procs = 6
	for round := range 3 {
		path := filepath.Join(t.TempDir(), "shared.db")
		var children []*child
		for range procs {
			children = append(children, startChild(t, path, true))
		}
		for _, c := range children { // go, all as close together as can be
			fmt.Fprintln(c.stdin)
		}
		for i, c := range children {
			if err := c.cmd.Wait(); err != nil {
				t.Errorf("round %d: process %d: %v: %s", round, i, err, c.errb)
			}
		}
		db, err := store.Open(context.Background(), path, store.Options{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		db.Close()
	}
}
