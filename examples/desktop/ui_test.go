package main

import (
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gioui.org/f32"
	"gioui.org/gpu/headless"
	"gioui.org/io/input"
	"gioui.org/io/key"
	"gioui.org/io/pointer"
	"gioui.org/io/semantic"
	"gioui.org/layout"
	"gioui.org/op"
	"gioui.org/unit"
)

// window is the app's UI driven in-process as a person drives it: frames
// laid out through Gio's input.Router, clicks and keys queued as Gio's own
// pointer and key events, and pictures rendered headless.
type window struct {
	tb   testing.TB
	a    *instance
	ui   *UI
	r    input.Router
	ops  op.Ops
	size image.Point
}

func newWindow(tb testing.TB, a *instance) *window {
	w := &window{tb: tb, a: a, ui: NewUI(a.m), size: image.Pt(620, 480)}
	w.frame()
	return w
}

// frame lays out one frame, handling the events queued since the last.
func (w *window) frame() {
	w.ops.Reset()
	gtx := layout.Context{
		Ops:         &w.ops,
		Metric:      unit.Metric{PxPerDp: 1, PxPerSp: 1},
		Now:         time.Now(),
		Constraints: layout.Exact(w.size),
		Source:      w.r.Source(),
	}
	w.ui.Layout(gtx)
	w.r.Frame(&w.ops)
}

// find returns where to click the widget whose semantic label (its text,
// as a screen reader says it) is label: the button or checkbox the label
// is in, the editor it is the hint of, or the label's top left corner. (A
// label's own bounds reach to the edge of its clip, not of its text.)
func (w *window) find(label string) (image.Rectangle, bool) {
	all, ok := w.findAll(label)
	if !ok {
		return image.Rectangle{}, false
	}
	return all[0], true
}

// findAll is find for every widget labelled label, top to bottom.
func (w *window) findAll(label string) ([]image.Rectangle, bool) {
	return w.findWhere(func(l string) bool { return l == label })
}

// findWhere is findAll for every widget whose label satisfies match.
func (w *window) findWhere(match func(label string) bool) ([]image.Rectangle, bool) {
	var out []image.Rectangle
	var walk func(parent *input.SemanticNode, ns []input.SemanticNode)
	walk = func(parent *input.SemanticNode, ns []input.SemanticNode) {
		for i, n := range ns {
			if match(n.Desc.Label) {
				out = append(out, clickable(parent, ns, n))
			}
			walk(&ns[i], n.Children)
		}
	}
	walk(nil, w.r.AppendSemantics(nil)[:1])
	slices.SortFunc(out, func(a, b image.Rectangle) int { return a.Min.Y - b.Min.Y })
	return out, len(out) > 0
}

func clickable(parent *input.SemanticNode, siblings []input.SemanticNode, n input.SemanticNode) image.Rectangle {
	if parent != nil && parent.Desc.Class != semantic.Unknown {
		return parent.Desc.Bounds
	}
	for _, s := range siblings {
		if s.Desc.Class == semantic.Editor && s.Desc.Bounds.Min == n.Desc.Bounds.Min {
			return s.Desc.Bounds
		}
	}
	return image.Rectangle{Min: n.Desc.Bounds.Min, Max: n.Desc.Bounds.Min.Add(image.Pt(8, 8))}
}

// click clicks the middle of the widget labelled label.
func (w *window) click(label string) {
	w.tb.Helper()
	b, ok := w.find(label)
	if !ok {
		w.tb.Fatalf("no %q on screen", label)
	}
	w.clickAt(b)
}

func (w *window) clickAt(b image.Rectangle) {
	c := b.Min.Add(b.Max).Div(2)
	p := f32.Pt(float32(c.X), float32(c.Y))
	w.r.Queue(
		pointer.Event{Kind: pointer.Move, Source: pointer.Mouse, Position: p},
		pointer.Event{Kind: pointer.Press, Source: pointer.Mouse, Buttons: pointer.ButtonPrimary, Position: p},
		pointer.Event{Kind: pointer.Release, Source: pointer.Mouse, Position: p},
	)
	w.frame()
}

// typeText types s into the focused editor, as an input method would.
func (w *window) typeText(s string) {
	st := w.r.EditorState()
	w.r.Queue(key.EditEvent{Range: key.Range{Start: st.Selection.Start, End: st.Selection.End}, Text: s})
	w.frame()
}

// press presses and releases a key.
func (w *window) press(name key.Name, mods key.Modifiers) {
	w.r.Queue(key.Event{Name: name, Modifiers: mods, State: key.Press},
		key.Event{Name: name, Modifiers: mods, State: key.Release})
	w.frame()
}

// wait waits for the model's view to satisfy cond, then lays out a frame
// of it.
func (w *window) wait(what string, cond func(View) bool) View {
	w.tb.Helper()
	v := w.a.wait(what, cond)
	w.frame()
	return v
}

// shows says whether a widget labelled label is on screen.
func (w *window) shows(label string) bool {
	_, ok := w.find(label)
	return ok
}

// bottomField returns the lowest text field on screen (the chat's).
func (w *window) bottomField() image.Rectangle {
	w.tb.Helper()
	var out image.Rectangle
	var walk func(ns []input.SemanticNode)
	walk = func(ns []input.SemanticNode) {
		for _, n := range ns {
			if n.Desc.Class == semantic.Editor && n.Desc.Bounds.Max.Y > out.Max.Y {
				out = n.Desc.Bounds
			}
			walk(n.Children)
		}
	}
	walk(w.r.AppendSemantics(nil)[:1])
	if out.Empty() {
		w.tb.Fatal("no text field on screen")
	}
	return out
}

// showsText says whether a label on screen holds text.
func (w *window) showsText(text string) bool {
	_, ok := w.findWhere(func(l string) bool { return strings.Contains(l, text) })
	return ok
}

// screenshot renders the last frame headless to a PNG in dir, or skips
// the test when this machine has no GPU context to render with.
func (w *window) screenshot(name string) image.Image {
	w.tb.Helper()
	hw, err := headless.NewWindow(w.size.X, w.size.Y)
	if err != nil {
		w.tb.Skipf("no headless GPU context here (%v); the UI was driven, not drawn", err)
	}
	defer hw.Release()
	if err := hw.Frame(&w.ops); err != nil {
		w.tb.Fatal(err)
	}
	img := image.NewRGBA(image.Rectangle{Max: hw.Size()})
	if err := hw.Screenshot(img); err != nil {
		w.tb.Fatal(err)
	}
	dir := os.Getenv("OUTPOST_DESKTOP_SHOTS")
	if dir == "" {
		dir = w.tb.TempDir()
	}
	f, err := os.Create(filepath.Join(dir, name+".png"))
	if err != nil {
		w.tb.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		w.tb.Fatal(err)
	}
	return img
}

// TestUI_ClicksAndKeys drives the window with the mouse and keyboard: make
// a list, add tasks with Enter, tick one, go offline with Ctrl+O and see
// the pending mark, come back, rename and delete.
func TestUI_ClicksAndKeys(t *testing.T) {
	url := startServer(t)
	a := startApp(t, testConfig(t, url, "alice", filepath.Join(t.TempDir(), "alice.db")))
	w := newWindow(t, a)
	w.wait("online", func(v View) bool { return v.Status.Online })
	if !w.shows("No lists yet. Make one below (it needs the network).") {
		t.Fatal("an empty store shows no hint")
	}

	w.click("New list")
	w.typeText("Groceries")
	w.press(key.NameReturn, 0)
	w.wait("the list", func(v View) bool { return v.ListName() == "Groceries" })

	w.click("New task: type it and press Enter")
	w.typeText("bread")
	w.press(key.NameReturn, 0)
	w.typeText("milk")
	w.press(key.NameReturn, 0)
	w.wait("two tasks", func(v View) bool { return slices.Equal(titles(v), []string{"bread", "milk"}) })

	w.click("bread")
	w.wait("bread ticked", func(v View) bool { return slices.Equal(titles(v), []string{"[x] bread", "milk"}) })

	w.press("O", key.ModShortcut)
	w.wait("offline", func(v View) bool { return !v.Status.Online && v.Status.UserOffline })
	if !w.shows("Go online") {
		t.Fatal("offline, the status bar offers no way back online")
	}
	w.click("New task: type it and press Enter")
	w.typeText("eggs")
	w.press(key.NameReturn, 0)
	w.wait("eggs pending", func(v View) bool { return slices.Contains(titles(v), "eggs (pending)") })
	if !w.shows("pending") {
		t.Fatal("a pending task shows no pending mark")
	}
	w.screenshot("offline")

	w.click("Go online")
	w.wait("eggs sent", func(v View) bool {
		return v.Status.Online && v.Status.Pending == 0 && slices.Equal(titles(v), []string{"[x] bread", "milk", "eggs"})
	})

	renames, _ := w.findAll("Rename")
	w.clickAt(renames[1]) // milk's
	w.typeText(" (oat)")
	w.press(key.NameReturn, 0)
	w.wait("milk renamed", func(v View) bool { return slices.Equal(titles(v), []string{"[x] bread", "milk (oat)", "eggs"}) })

	deletes, _ := w.findAll("Delete")
	w.clickAt(deletes[0])
	w.wait("bread deleted", func(v View) bool { return slices.Equal(titles(v), []string{"milk (oat)", "eggs"}) })
}

// TestUI_TypingGoesToTheNewTask: what is typed first, without a click,
// is a new task.
func TestUI_TypingGoesToTheNewTask(t *testing.T) {
	url := startServer(t)
	a := startApp(t, testConfig(t, url, "alice", filepath.Join(t.TempDir(), "alice.db")))
	w := newWindow(t, a)
	w.wait("online", func(v View) bool { return v.Status.Online })
	a.m.CreateList("Todo")
	w.wait("the list", func(v View) bool { return v.ListName() == "Todo" })
	w.typeText("call mum")
	w.press(key.NameReturn, 0)
	w.wait("the task", func(v View) bool { return slices.Equal(titles(v), []string{"call mum"}) })
}

// TestUI_DraftKept: text typed and not added or said is kept when the
// window closes and is back in its field on the next start.
func TestUI_DraftKept(t *testing.T) {
	url := startServer(t)
	db := filepath.Join(t.TempDir(), "alice.db")
	a := startApp(t, testConfig(t, url, "alice", db))
	w := newWindow(t, a)
	w.wait("online", func(v View) bool { return v.Status.Online })
	a.m.CreateList("Todo")
	w.wait("the list", func(v View) bool { return v.ListName() == "Todo" })
	w.typeText("buy a new")
	w.click("Say something to the list")
	w.typeText("see you at")
	if err := saveDraft(draftPath(db), w.ui.Draft()); err != nil {
		t.Fatal(err)
	}
	a.close()

	a = startApp(t, testConfig(t, url, "alice", db))
	w = newWindow(t, a)
	w.wait("the list", func(v View) bool { return v.ListName() == "Todo" })
	w.ui.SetDraft(loadDraft(draftPath(db)))
	w.frame()
	w.typeText(" bike")
	w.clickAt(w.bottomField())
	w.press(key.NameEnd, 0)
	w.typeText(" six")
	if got, want := w.ui.Draft(), (Draft{Task: "buy a new bike", Chat: "see you at six"}); got != want {
		t.Fatalf("the fields hold %+v after the restart and more typing; want %+v", got, want)
	}
	if err := saveDraft(draftPath(db), Draft{}); err != nil {
		t.Fatal(err)
	}
	if got := loadDraft(draftPath(db)); got != (Draft{}) {
		t.Fatalf("an empty draft left %+v behind", got)
	}
}

// TestUI_CatchUpProgress: bob, back after alice added many tasks, catches
// up in many pages, and the window shows a progress bar with the counts
// meanwhile. The server holds his third page until the test has seen the
// catch-up in progress, so a fast sync cannot end before a view shows it.
func TestUI_CatchUpProgress(t *testing.T) {
	var bobAuth atomic.Value // bob's Authorization header, once known
	bobAuth.Store("")
	g := newGate(t, 2, func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/sync" && r.Header.Get("Authorization") == bobAuth.Load()
	})
	alice, bob, _ := sharedListOn(t, startServer(t, g.wrap), "Big", func(bob *config) {
		bob.syncOpts.PageSize = 5
		bobAuth.Store("Bearer " + bob.token)
	})
	bob.m.SetOnline(false)
	bob.wait("offline", func(v View) bool { return !v.Status.Online && !v.Status.Syncing })
	const n = 60
	for i := range n {
		alice.m.AddTask(fmt.Sprintf("task %d", i))
	}
	alice.wait("all sent", func(v View) bool { return len(v.Tasks) == n && v.Status.Pending == 0 })

	g.arm()
	bob.m.SetOnline(true)
	v := bob.sawView("a catch-up in progress", func(v View) bool { return v.Status.Syncing && !v.Status.FirstSync && v.Status.Pages >= 2 })
	g.open()
	bob.wait("all tasks", func(v View) bool { return len(v.Tasks) == n })

	w := newWindow(t, bob)
	w.ops.Reset()
	gtx := layout.Context{Ops: &w.ops, Metric: unit.Metric{PxPerDp: 1, PxPerSp: 1}, Constraints: layout.Exact(w.size), Source: w.r.Source()}
	w.ui.progress(gtx, v)
	w.r.Frame(&w.ops)
	want := fmt.Sprintf("Catching up: %d events in %d pages so far", v.Status.Events, v.Status.Pages)
	if !w.shows(want) {
		t.Fatalf("no %q while catching up", want)
	}
	w.screenshot("catching-up")
}

// TestUI_RefusalRetryDismiss: bob renames two tasks in his window while
// offline, and alice changes both meanwhile; back online, the window lists
// the two refusals, each saying what alice made of the task, with Retry
// and Dismiss, which he clicks.
func TestUI_RefusalRetryDismiss(t *testing.T) {
	alice, bob, _ := sharedList(t, "Chores")
	alice.m.AddTask("dishes")
	alice.m.AddTask("bins")
	w := newWindow(t, bob)
	v := w.wait("the tasks", func(v View) bool { return slices.Equal(titles(v), []string{"dishes", "bins"}) })
	dishes, bins := v.Tasks[0].ID, v.Tasks[1].ID

	w.press("O", key.ModShortcut)
	w.wait("offline", func(v View) bool { return !v.Status.Online && !v.Status.Syncing && v.Status.UserOffline })
	for i, more := range []string{" tomorrow", " out"} {
		renames, _ := w.findAll("Rename")
		w.clickAt(renames[i])
		w.typeText(more)
		w.press(key.NameReturn, 0)
	}
	w.wait("his renames pending", func(v View) bool {
		return slices.Equal(titles(v), []string{"dishes tomorrow (pending)", "bins out (pending)"})
	})
	alice.m.Rename(dishes, "wash dishes")
	alice.m.Rename(bins, "empty bins")
	alice.wait("her renames sent", func(v View) bool {
		return slices.Equal(titles(v), []string{"wash dishes", "empty bins"}) && v.Status.Pending == 0
	})

	w.click("Go online")
	w.wait("both refused", func(v View) bool { return len(v.Failed) == 2 && v.Status.Pending == 0 })
	banner := "Refused by the server: rename “wash dishes” to “dishes tomorrow”: alice changed it since you saw it: it is now “wash dishes”"
	if !w.shows(banner) || !w.shows("Retry") || !w.shows("Dismiss") {
		t.Fatalf("no %q with Retry and Dismiss", banner)
	}
	w.screenshot("refused")

	w.click("Retry") // the first: dishes
	w.wait("the retry landed", func(v View) bool {
		return len(v.Failed) == 1 && v.Failed[0].Task == bins && slices.Equal(titles(v), []string{"dishes tomorrow", "empty bins (failed)"})
	})
	w.click("Dismiss")
	w.wait("dismissed", func(v View) bool {
		return len(v.Failed) == 0 && slices.Equal(titles(v), []string{"dishes tomorrow", "empty bins"})
	})
	if w.shows("Dismiss") {
		t.Fatal("the refusal is still on screen after Dismiss")
	}
	alice.wait("bob's retried title", func(v View) bool { return slices.Equal(titles(v), []string{"dishes tomorrow", "empty bins"}) })
}

// TestUI_BadInputInWords: a store of another user, and a server down at
// start, each shown in the window in words, with pixels drawn.
func TestUI_BadInputInWords(t *testing.T) {
	url := startServer(t)
	db := filepath.Join(t.TempDir(), "alice.db")
	a := startApp(t, testConfig(t, url, "alice", db))
	a.wait("online", func(v View) bool { return v.Status.Online })
	a.close()

	bob := startApp(t, testConfig(t, url, "bob", db))
	w := newWindow(t, bob)
	v := w.wait("the open error", func(v View) bool { return v.OpenError != "" })
	if !w.shows("Could not open the task store") || !w.shows(v.OpenError) {
		t.Fatalf("the window does not say why the store could not open (%q)", v.OpenError)
	}
	img := w.screenshot("another-user")
	if blank(img) {
		t.Fatal("the error screen is blank")
	}

	down := testConfig(t, deadURL(t), "alice", db)
	alice := startApp(t, down)
	w = newWindow(t, alice)
	v = w.wait("offline with a reason", func(v View) bool {
		return !v.Opening && !v.Status.Online && strings.Contains(v.Status.Why, "refuses connections")
	})
	if !w.shows("Offline: " + v.Status.Why) {
		t.Fatalf("the status bar does not say why it is offline (%q)", v.Status.Why)
	}
	w.screenshot("server-down")
}

// blank says whether every pixel of img is the same.
func blank(img image.Image) bool {
	b := img.Bounds()
	first := img.At(b.Min.X, b.Min.Y)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.At(x, y) != first {
				return false
			}
		}
	}
	return true
}

// TestUI_Chat: the list's chat is beside its tasks: a line said in
// alice's window reaches bob, and bob's line said offline waits, marked
// pending, until he is back.
func TestUI_Chat(t *testing.T) {
	alice, bob, _ := sharedList(t, "Shop")
	w := newWindow(t, alice)

	w.click("Say something to the list")
	w.typeText("who buys milk?")
	w.press(key.NameReturn, 0)
	bob.wait("alice's line", func(v View) bool { return slices.Equal(chatLines(v), []string{"alice: who buys milk?"}) })
	if v := alice.m.View(); len(v.Tasks) != 0 {
		t.Fatalf("a chat line made tasks: %q", titles(v))
	}

	bob.m.SetOnline(false)
	bob.wait("offline", func(v View) bool { return !v.Status.Online && !v.Status.Syncing })
	bob.m.Say("me")
	bob.wait("his line pending", func(v View) bool { return slices.Contains(chatLines(v), "bob: me (pending)") })
	bob.m.SetOnline(true)
	w.wait("both lines", func(v View) bool { return slices.Equal(chatLines(v), []string{"alice: who buys milk?", "bob: me"}) })
	if !w.shows("who buys milk?") || !w.shows("me") {
		t.Fatal("the chat's lines are not on screen")
	}
	w.screenshot("chat")
}

// chatLines returns the view's chat lines with who said them and their
// marks.
func chatLines(v View) []string {
	var out []string
	for _, l := range v.Chat {
		s := l.By + ": " + l.Text
		if l.Mark != Synced {
			s += " (" + string(l.Mark) + ")"
		}
		out = append(out, s)
	}
	return out
}
