package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/token"
)

// TestSmoke_TwoWindows runs the real app twice (alice and bob, each with
// their own store) as processes on an X display against a real outpostd,
// and drives their windows with xdotool as a person would: alice makes a
// list in her window, bob goes offline with Ctrl+O and adds a task, alice
// adds one online and says a line in the list's chat, bob comes back, and
// both windows show the same list and chat.
// What each window shows is read back from the app's --dump file, and a
// screenshot of the screen is taken.
//
// Without a display (or xdotool and ImageMagick's import) it skips;
// OUTPOST_REQUIRE_DESKTOP=1 (set by .ci/run, which starts Xvfb) makes
// that a failure.
func TestSmoke_TwoWindows(t *testing.T) {
	need := func(why string) {
		t.Helper()
		if os.Getenv("OUTPOST_REQUIRE_DESKTOP") != "" {
			t.Fatal(why + "; OUTPOST_REQUIRE_DESKTOP is set")
		}
		t.Skip(why)
	}
	if os.Getenv("DISPLAY") == "" {
		need("no X display (DISPLAY is unset); run under Xvfb, as .ci/run does")
	}
	for _, tool := range []string{"xdotool", "import"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(tool + " is not installed (Debian: apt-get install xdotool imagemagick)")
		}
	}
	dir := t.TempDir()
	outpostd, desktop := filepath.Join(dir, "outpostd"), filepath.Join(dir, "desktop")
	build(t, "../..", outpostd, "./cmd/outpostd")
	build(t, ".", desktop, ".")

	const secret = "smoke-secret"
	addr := freeAddr(t)
	url := "http://" + addr
	start(t, dir, "outpostd", outpostd, "--addr", addr, "--db", filepath.Join(dir, "server.db"), "--secret", secret)
	waitReady(t, url+"/readyz")

	run := func(user string, more ...string) (dump string) {
		tok, err := token.Issue([]byte(secret), user, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		dump = filepath.Join(dir, user+".json")
		args := append([]string{"--server", url, "--user", user, "--token", tok,
			"--db", filepath.Join(dir, user+".db"), "--dump", dump}, more...)
		start(t, dir, user, desktop, args...)
		return dump
	}
	aliceDump := run("alice", "--share", "bob")
	bobDump := run("bob")
	alice, bob := xwindow(t, "alice"), xwindow(t, "bob")
	xdo(t, "windowmove", alice, "0", "0")
	xdo(t, "windowmove", bob, "640", "0")
	online := func(v View) bool { return v.Status.Online }
	waitDump(t, aliceDump, "alice online", online)
	waitDump(t, bobDump, "bob online", online)

	// Alice makes the list in her window's sidebar, at its bottom.
	_, h := geometry(t, alice)
	clickAt(t, alice, 90, h-52)
	typeKeys(t, "Shopping", "Return")
	waitDump(t, aliceDump, "alice's new list", func(v View) bool { return v.ListName() == "Shopping" })
	waitDump(t, bobDump, "the list at bob's", func(v View) bool { return v.ListName() == "Shopping" })

	// Bob goes offline and adds a task.
	xdo(t, "windowfocus", "--sync", bob)
	typeKeys(t, "", "ctrl+o")
	waitDump(t, bobDump, "bob offline", func(v View) bool { return !v.Status.Online && !v.Status.Syncing && v.Status.UserOffline })
	clickAt(t, bob, 400, 103)
	typeKeys(t, "milk", "Return")
	waitDump(t, bobDump, "bob's pending milk", func(v View) bool { return slices.Equal(titles(v), []string{"milk (pending)"}) })

	// Alice adds one online, and says a line in the list's chat (its
	// field is at the bottom of her window).
	clickAt(t, alice, 400, 103)
	typeKeys(t, "bread", "Return")
	waitDump(t, aliceDump, "alice's bread", func(v View) bool { return slices.Equal(titles(v), []string{"bread"}) })
	clickAt(t, alice, 400, h-28)
	typeKeys(t, "who buys eggs?", "Return")
	chat := []string{"alice: who buys eggs?"}
	waitDump(t, aliceDump, "alice's line", func(v View) bool { return slices.Equal(chatLines(v), chat) })
	if got := titles(readDump(t, bobDump)); !slices.Equal(got, []string{"milk (pending)"}) {
		t.Fatalf("offline bob shows %q", got)
	}
	// The README's picture: alice online, bob offline with his task
	// pending.
	screenshot(t, os.Getenv("OUTPOST_DESKTOP_SCREENSHOT"), filepath.Join(dir, "apart.png"))

	// Bob comes back; both show the same list, in the order the tasks
	// were added, nothing pending.
	xdo(t, "windowfocus", "--sync", bob)
	typeKeys(t, "", "ctrl+o")
	want := []string{"milk", "bread"}
	same := func(v View) bool {
		return v.Status.Online && v.Status.Pending == 0 && slices.Equal(titles(v), want) && slices.Equal(chatLines(v), chat)
	}
	waitDump(t, bobDump, "bob in step", same)
	waitDump(t, aliceDump, "alice in step", same)

	screenshot(t, filepath.Join(dir, "together.png"))
}

// screenshot saves the two windows' part of the screen to the first path
// not empty.
func screenshot(t *testing.T, paths ...string) {
	t.Helper()
	i := slices.IndexFunc(paths, func(p string) bool { return p != "" })
	out, err := exec.Command("import", "-window", "root", "-crop", "1260x560+0+0", "+repage", paths[i]).CombinedOutput()
	if err != nil {
		t.Fatalf("import: %v: %s", err, out)
	}
}

func build(t *testing.T, dir, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs a process until the test ends, its output in dir/name.log,
// shown when the test fails.
func start(t *testing.T, dir, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s's output:\n%s", name, b)
		}
	})
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func xdo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("xdotool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xdotool %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// xwindow waits for user's window and returns its id.
func xwindow(t *testing.T, user string) string {
	t.Helper()
	ids := strings.Fields(xdo(t, "search", "--sync", "--name", "^Outpost tasks: "+user+"$"))
	return ids[0]
}

// geometry returns a window's size.
func geometry(t *testing.T, win string) (w, h int) {
	t.Helper()
	for _, line := range strings.Split(xdo(t, "getwindowgeometry", "--shell", win), "\n") {
		k, v, _ := strings.Cut(line, "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "WIDTH":
			w = n
		case "HEIGHT":
			h = n
		}
	}
	return w, h
}

// clickAt focuses a window and clicks at x, y inside it.
func clickAt(t *testing.T, win string, x, y int) {
	t.Helper()
	xdo(t, "windowfocus", "--sync", win)
	xdo(t, "mousemove", "--window", win, strconv.Itoa(x), strconv.Itoa(y), "click", "1")
}

// typeKeys types text, then presses each key, into the focused window.
func typeKeys(t *testing.T, text string, keys ...string) {
	t.Helper()
	if text != "" {
		xdo(t, "type", "--delay", "15", text)
	}
	for _, k := range keys {
		xdo(t, "key", k)
	}
}

func readDump(t *testing.T, path string) View {
	t.Helper()
	var v View
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.NewDecoder(bytes.NewReader(b)).Decode(&v)
	}
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("dump %s: %v", path, err)
	}
	return v
}

// waitDump polls an app's dump file until what its window shows satisfies
// cond.
func waitDump(t *testing.T, path, what string, cond func(View) bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		v := readDump(t, path)
		if cond(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; %s shows %+v", what, filepath.Base(path), v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
