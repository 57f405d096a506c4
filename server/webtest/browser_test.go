package webtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// chromium returns the path of a Chromium binary, or skips the test
// (fails it when OUTPOST_REQUIRE_BROWSER=1, as .ci/run sets).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("OUTPOST_REQUIRE_BROWSER") == "1" {
		t.Fatal("OUTPOST_REQUIRE_BROWSER=1 but no chromium binary found (apt-get install -y chromium)")
	}
	t.Skip("no chromium binary found: browser test skipped (apt-get install -y chromium to run it)")
	return ""
}

// browser starts a headless Chromium and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 760),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first Run starts the browser, on a context without a timeout
	// (a timeout there would stop the browser).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// TestBrowser_LiveAndReplay: the web page in a real Chromium shows a
// message sent by another client, keeps every message of an outage of its
// stream exactly once and in order after the reconnect, and tells online
// from offline. A screenshot goes to $OUTPOST_SCREENSHOT when set.
// The other client is the Go SDK's connection (package client).
func TestBrowser_LiveAndReplay(t *testing.T) {
	ctx := browser(t)
	ts := startServer(t, func(c *server.Config) { c.StreamRetry = 200 * time.Millisecond })
	cid := createChannel(t, ts, "alice", "general", "bob")
	alice, err := client.New(client.Config{ServerURL: ts.URL, UserID: "alice", Token: tokenFor(t, "alice")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close(context.Background()) })
	sendMsg := func(id, text string) {
		t.Helper()
		if _, err := alice.SendMessage(context.Background(), cid, protocol.SendMessageRequest{
			Message: protocol.MessageInput{ID: id, Text: text}}); err != nil {
			t.Fatalf("send %s through the SDK: %v", id, err)
		}
	}
	proxy, err := faultproxy.New(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	status := func() string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
		if err != nil {
			t.Fatalf("read the status: %v", err)
		}
		return s
	}
	texts := func() []string {
		out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll("#messages li .text")].map(e => e.textContent)`))
		if err != nil {
			t.Fatalf("read the messages: %v", err)
		}
		return out
	}

	run("sign in",
		chromedp.Navigate(proxy.URL()+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), tokenFor(t, "bob")),
		chromedp.Click(chromedp.CSS("#signin button")),
		chromedp.WaitVisible(chromedp.CSS(`#channels li[data-cid="`+cid+`"]`)),
	)
	waitFor(t, 20*time.Second, "the page to go online", func() bool { return status() == "online" })

	sendMsg("hello", "hello from the Go side")
	run("see the message", chromedp.WaitVisible(chromedp.CSS(`#messages li[data-id="hello"]`)))

	// An outage of the stream: new connections refused, open ones cut.
	accepted := proxy.Accepted()
	proxy.Refuse()
	proxy.Cut()
	waitFor(t, 20*time.Second, "the page to show offline", func() bool { return strings.HasPrefix(status(), "offline") })
	want := []string{"hello from the Go side"}
	for i := range 10 {
		sendMsg(fmt.Sprintf("during%d", i), fmt.Sprintf("written during the outage #%d", i))
		want = append(want, fmt.Sprintf("written during the outage #%d", i))
	}
	waitFor(t, 20*time.Second, "the page to try to reconnect", func() bool { return proxy.Accepted() > accepted })
	if got := texts(); !slices.Equal(got, want[:1]) {
		t.Fatalf("during the outage the page shows %q", got)
	}
	proxy.Heal()
	waitFor(t, 20*time.Second, "the page to come back online", func() bool { return status() == "online" })
	waitFor(t, 20*time.Second, "the replayed messages", func() bool { return len(texts()) >= len(want) })
	if got := texts(); !slices.Equal(got, want) {
		t.Fatalf("after the reconnect the page shows\n%q\nwant\n%q", got, want)
	}

	// The page's own send, live back on the stream without a duplicate.
	run("send from the page",
		chromedp.SendKeys(chromedp.ID("text"), "sent from the page"),
		chromedp.Click(chromedp.CSS("#send button")),
	)
	want = append(want, "sent from the page")
	waitFor(t, 20*time.Second, "the page's own message", func() bool { return len(texts()) >= len(want) })
	if got := texts(); !slices.Equal(got, want) {
		t.Fatalf("after sending the page shows %q", got)
	}

	// A truncate clears the page; what follows it shows.
	if _, err := alice.TruncateChannel(context.Background(), cid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the page to show the truncate", func() bool { return len(texts()) == 0 })
	sendMsg("after", "after the truncate")
	waitFor(t, 20*time.Second, "the message after the truncate", func() bool { return slices.Equal(texts(), []string{"after the truncate"}) })

	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), "web-page.png")
	if dst := os.Getenv("OUTPOST_SCREENSHOT"); dst != "" {
		path = dst
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowser_ResetRefetches: when retention pruned what the page missed
// during an outage, the stream sends a reset and the page refetches the
// channel: every message still shows once, in order.
func TestBrowser_ResetRefetches(t *testing.T) {
	ctx := browser(t)
	ts := startServer(t, func(c *server.Config) {
		c.StreamRetry = 200 * time.Millisecond
		c.MaxEventsPerChannel = 3
	})
	cid := createChannel(t, ts, "alice", "general", "bob")
	proxy, err := faultproxy.New(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	eval := func(expr string) []string {
		out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return out
	}
	status := func() string { return eval(`[document.getElementById("status").textContent]`)[0] }
	texts := func() []string {
		return eval(`[...document.querySelectorAll("#messages li .text")].map(e => e.textContent)`)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(proxy.URL()+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), tokenFor(t, "bob")),
		chromedp.Click(chromedp.CSS("#signin button")),
		chromedp.WaitVisible(chromedp.CSS(`#channels li[data-cid="`+cid+`"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the page to go online", func() bool { return status() == "online" })
	sendMsg(t, ts, "alice", cid, "first", "before the outage")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#messages li[data-id="first"]`))); err != nil {
		t.Fatal(err)
	}

	accepted := proxy.Accepted()
	proxy.Refuse()
	proxy.Cut()
	waitFor(t, 20*time.Second, "the page to show offline", func() bool { return strings.HasPrefix(status(), "offline") })
	want := []string{"before the outage"}
	for i := range 10 {
		sendMsg(t, ts, "alice", cid, fmt.Sprintf("gone%d", i), fmt.Sprintf("pruned from the log #%d", i))
		want = append(want, fmt.Sprintf("pruned from the log #%d", i))
	}
	waitFor(t, 20*time.Second, "the page to try to reconnect", func() bool { return proxy.Accepted() > accepted })
	if got := texts(); !slices.Equal(got, want[:1]) {
		t.Fatalf("during the outage the page shows %q", got)
	}
	if ts.srv.Prune(t.Context()) == 0 {
		t.Fatal("nothing pruned")
	}
	resets := metric(t, ts, "outpost_sse_resets_total")
	proxy.Heal()
	waitFor(t, 20*time.Second, "the refetched messages", func() bool { return len(texts()) >= len(want) })
	if got := texts(); !slices.Equal(got, want) {
		t.Fatalf("after the reset the page shows\n%q\nwant\n%q", got, want)
	}
	if metric(t, ts, "outpost_sse_resets_total") <= resets {
		t.Errorf("the page caught up without a reset; the server's log:\n%s", ts.logs.String())
	}
}
