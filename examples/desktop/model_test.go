package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sharedList starts a server and the apps of alice and bob, each on a
// store of their own, has alice make a list shared with bob in her app,
// and waits until both apps show it, selected. It returns alice's config
// too.
func sharedList(t *testing.T, name string) (alice, bob *instance, acfg config) {
	t.Helper()
	return sharedListOn(t, startServer(t), name)
}

// sharedListOn is sharedList on the server at url; tune, if given,
// changes bob's config first.
func sharedListOn(t *testing.T, url, name string, tune ...func(bob *config)) (alice, bob *instance, acfg config) {
	t.Helper()
	dir := t.TempDir()
	acfg = testConfig(t, url, "alice", filepath.Join(dir, "alice.db"))
	acfg.share = []string{"bob"}
	alice = startApp(t, acfg)
	bcfg := testConfig(t, url, "bob", filepath.Join(dir, "bob.db"))
	for _, f := range tune {
		f(&bcfg)
	}
	bob = startApp(t, bcfg)
	alice.wait("online", func(v View) bool { return v.Status.Online })
	alice.m.CreateList(name)
	alice.wait("the new list", func(v View) bool { return v.ListName() == name })
	bob.wait("the shared list", func(v View) bool { return v.ListName() == name })
	return alice, bob, acfg
}

func TestModel_BobOfflineAliceOnline(t *testing.T) {
	alice, bob, _ := sharedList(t, "Groceries")

	bob.m.SetOnline(false)
	// Not syncing either: a sync that began before the disconnect may
	// still bring what the server has when its request reaches it.
	bob.wait("offline, with why", func(v View) bool {
		return !v.Status.Online && !v.Status.Syncing && strings.Contains(v.Status.Why, "taken offline")
	})
	bob.m.AddTask("milk")
	bob.wait("milk pending", func(v View) bool { return slices.Equal(titles(v), []string{"milk (pending)"}) })

	alice.m.AddTask("bread")
	alice.wait("bread sent", func(v View) bool { return slices.Equal(titles(v), []string{"bread"}) })
	bv := bob.m.View()
	if got := titles(bv); !slices.Equal(got, []string{"milk (pending)"}) {
		t.Fatalf("offline bob shows %q; want only his pending milk", got)
	}

	bob.m.SetOnline(true)
	// Tasks are in the order they were added, on every device.
	want := []string{"milk", "bread"}
	bob.wait("both tasks, sent", func(v View) bool { return slices.Equal(titles(v), want) && v.Status.Pending == 0 })
	alice.wait("both tasks (live)", func(v View) bool { return slices.Equal(titles(v), want) })

	// A tick and a delete travel the same way.
	alice.m.Toggle(taskID(t, alice.m.View(), "bread"))
	bob.wait("bread ticked", func(v View) bool { return slices.Equal(titles(v), []string{"milk", "[x] bread"}) })
	bob.m.Delete(taskID(t, bob.m.View(), "milk"))
	alice.wait("milk deleted", func(v View) bool { return slices.Equal(titles(v), []string{"[x] bread"}) })
}

// TestModel_RefusedRename: bob renames two tasks offline, which alice
// changes online meanwhile; a rename is made on the version bob saw, so
// the server refuses both when he is back. Each shows on its task and in
// the failed list, saying who changed it and what it is now; Retry
// renames it over alice's version, Dismiss keeps hers.
func TestModel_RefusedRename(t *testing.T) {
	alice, bob, _ := sharedList(t, "Chores")
	alice.m.AddTask("dishes")
	alice.m.AddTask("bins")
	v := bob.wait("the tasks", func(v View) bool { return slices.Equal(titles(v), []string{"dishes", "bins"}) })
	dishes, bins := v.Tasks[0].ID, v.Tasks[1].ID

	bob.m.SetOnline(false)
	bob.wait("offline", func(v View) bool { return !v.Status.Online && !v.Status.Syncing && v.Status.UserOffline })
	bob.m.Rename(dishes, "no dishes")
	bob.m.Rename(bins, "no bins")
	bob.wait("his renames pending", func(v View) bool {
		return slices.Equal(titles(v), []string{"no dishes (pending)", "no bins (pending)"})
	})
	alice.m.Rename(dishes, "wash dishes")
	alice.m.Toggle(bins)
	alice.wait("her changes sent", func(v View) bool {
		return slices.Equal(titles(v), []string{"wash dishes", "[x] bins"}) && v.Status.Pending == 0
	})

	bob.m.SetOnline(true)
	v = bob.wait("both refused", func(v View) bool { return len(v.Failed) == 2 && v.Status.Failed == 2 && v.Status.Pending == 0 })
	if got, want := titles(v), []string{"wash dishes (failed)", "[x] bins (failed)"}; !slices.Equal(got, want) {
		t.Fatalf("tasks = %q; want alice's versions, marked refused: %q", got, want)
	}
	byTask := map[string]Failure{}
	for _, f := range v.Failed {
		byTask[f.Task] = f
	}
	f := byTask[dishes]
	if f.Op != "rename" || f.What != "rename “wash dishes” to “no dishes”" ||
		f.Why != "alice changed it since you saw it: it is now “wash dishes”" {
		t.Fatalf("failure = %+v; want bob's rename, with alice's title in words", f)
	}
	if w := byTask[bins].Why; w != "alice changed it since you saw it: it is now “bins”, ticked" {
		t.Fatalf("bins refused because %q", w)
	}
	if v.Tasks[0].Why != f.Why {
		t.Fatalf("the task's mark says %q; want the failure's %q", v.Tasks[0].Why, f.Why)
	}

	bob.m.Retry(f.ID)
	want := []string{"no dishes", "[x] bins (failed)"}
	bob.wait("the retry landed", func(v View) bool { return slices.Equal(titles(v), want) && len(v.Failed) == 1 })
	alice.wait("bob's title (live)", func(v View) bool { return slices.Equal(titles(v), []string{"no dishes", "[x] bins"}) })
	bob.m.Dismiss(byTask[bins].ID)
	v = bob.wait("dismissed", func(v View) bool {
		return len(v.Failed) == 0 && v.Status.Failed == 0 && slices.Equal(titles(v), []string{"no dishes", "[x] bins"})
	})
	if v.Error != "" {
		t.Fatalf("error %q after a dismiss", v.Error)
	}
}

// TestModel_OwnChangesNotRefused: a rename of a task that still has this
// device's writes pending is not refused for those writes: tasks added,
// ticked and renamed offline leave no refusal behind.
func TestModel_OwnChangesNotRefused(t *testing.T) {
	url := startServer(t)
	a := startApp(t, testConfig(t, url, "alice", filepath.Join(t.TempDir(), "alice.db")))
	a.wait("online", func(v View) bool { return v.Status.Online })
	a.m.CreateList("Errands")
	a.wait("the list", func(v View) bool { return v.ListName() == "Errands" })
	a.m.SetOnline(false)
	a.wait("offline", func(v View) bool { return !v.Status.Online && !v.Status.Syncing })
	a.m.AddTask("post")
	a.m.AddTask("bank")
	v := a.wait("both pending", func(v View) bool { return len(v.Tasks) == 2 })
	a.m.Toggle(v.Tasks[0].ID)
	a.m.Rename(v.Tasks[0].ID, "post office")
	a.m.Rename(v.Tasks[1].ID, "the bank")
	a.wait("renamed", func(v View) bool {
		return slices.Equal(titles(v), []string{"[x] post office (pending)", "the bank (pending)"})
	})
	a.m.SetOnline(true)
	v = a.wait("all sent", func(v View) bool { return v.Status.Online && v.Status.Pending == 0 && !v.Status.Syncing })
	if got := titles(v); len(v.Failed) != 0 || !slices.Equal(got, []string{"[x] post office", "the bank"}) {
		t.Fatalf("tasks %q, refused %+v; want both renamed and nothing refused", got, v.Failed)
	}
}

// TestModel_ServerDownAtStart: with the server down, the app opens at
// once on what its store holds, says it is offline and why, takes new
// tasks, and keeps them when closed; a start with the server back sends
// them.
func TestModel_ServerDownAtStart(t *testing.T) {
	url := startServer(t)
	dir := t.TempDir()
	acfg := testConfig(t, url, "alice", filepath.Join(dir, "alice.db"))
	alice := startApp(t, acfg)
	alice.wait("online", func(v View) bool { return v.Status.Online })
	alice.m.CreateList("Trip")
	alice.wait("the list", func(v View) bool { return v.ListName() == "Trip" })
	alice.close()

	down := acfg
	down.server = deadURL(t)
	alice = startApp(t, down)
	v := alice.wait("the local list, offline with a reason", func(v View) bool {
		return !v.Opening && v.ListName() == "Trip" && !v.Status.Online && v.Status.Why != "" && v.Status.Why != "connecting…"
	})
	t.Logf("offline because: %s", v.Status.Why)
	alice.m.AddTask("passport")
	alice.m.AddTask("tickets")
	alice.close() // at once: nothing typed may be lost

	alice = startApp(t, acfg)
	alice.wait("both tasks sent", func(v View) bool {
		return slices.Equal(titles(v), []string{"passport", "tickets"}) && v.Status.Online && v.Status.Pending == 0
	})
}

// TestModel_StoreOfAnotherUser: bob's app on alice's store says so in
// words instead of opening.
func TestModel_StoreOfAnotherUser(t *testing.T) {
	url := startServer(t)
	db := filepath.Join(t.TempDir(), "alice.db")
	alice := startApp(t, testConfig(t, url, "alice", db))
	alice.wait("online", func(v View) bool { return v.Status.Online })
	alice.close()

	bob := startApp(t, testConfig(t, url, "bob", db))
	v := bob.wait("the open error", func(v View) bool { return v.OpenError != "" })
	if !strings.Contains(v.OpenError, `tasks of user "alice", not "bob"`) {
		t.Fatalf("open error = %q; want it to name both users", v.OpenError)
	}
	// Actions before or after a failed open are dropped, not a crash.
	bob.m.AddTask("x")
}

// TestModel_StoreOfAnotherServer: alice's store, started against another
// server than the one it syncs with, opens on its tasks and says in words
// that it syncs no more and what to do.
func TestModel_StoreOfAnotherServer(t *testing.T) {
	cfg := testConfig(t, startServer(t), "alice", filepath.Join(t.TempDir(), "alice.db"))
	a := startApp(t, cfg)
	a.wait("online", func(v View) bool { return v.Status.Online })
	a.m.CreateList("Home")
	a.wait("the list", func(v View) bool { return v.ListName() == "Home" })
	a.m.AddTask("paint")
	a.wait("the task sent", func(v View) bool { return slices.Equal(titles(v), []string{"paint"}) && v.Status.Pending == 0 })
	a.close()

	cfg.server = startServer(t)
	a = startApp(t, cfg)
	v := a.wait("not syncing, in words", func(v View) bool { return v.Status.Fatal != "" })
	if !strings.Contains(v.Status.Fatal, "belongs to another server") || !strings.Contains(v.Status.Fatal, "--db") {
		t.Fatalf("fatal = %q; want it to say the store is another server's, and what to do", v.Status.Fatal)
	}
	a.wait("the local tasks", func(v View) bool { return v.ListName() == "Home" && slices.Equal(titles(v), []string{"paint"}) })
}

// TestModel_StartOffline: --offline opens on the local store and stays
// offline, saying so, until the user goes online.
func TestModel_StartOffline(t *testing.T) {
	url := startServer(t)
	cfg := testConfig(t, url, "alice", filepath.Join(t.TempDir(), "alice.db"))
	cfg.offline = true
	a := startApp(t, cfg)
	a.wait("offline by choice", func(v View) bool {
		return !v.Opening && !v.Status.Online && v.Status.UserOffline && strings.Contains(v.Status.Why, "taken offline")
	})
	a.m.SetOnline(true)
	a.wait("online", func(v View) bool { return v.Status.Online && !v.Status.UserOffline && v.Status.Why == "" })
}

// TestModel_Demo: the demo opens with bob's list and its tasks, and
// closes leaving nothing behind.
func TestModel_Demo(t *testing.T) {
	d, err := startDemo(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, d.URL, "alice", filepath.Join(d.Dir, "alice.db"))
	if cfg.token, err = d.Token("alice"); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg)
	v := a.wait("the welcome list", func(v View) bool { return v.ListName() == "Welcome" && len(v.Tasks) == 3 })
	// The demo's rules let only a task's maker delete it: a refusal to
	// try.
	a.m.Delete(v.Tasks[2].ID)
	v = a.wait("the refused delete", func(v View) bool { return len(v.Failed) == 1 })
	if f := v.Failed[0]; f.Op != "delete" || !strings.Contains(f.Why, "may not delete") {
		t.Fatalf("failure = %+v; want the delete, with the server's reason", f)
	}
	a.close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Fatalf("the demo's directory is still there: %v", err)
	}
}

// TestModel_TwoAppsOneStore: a second app on the same store opens on its
// tasks, says that the first one syncs, and its writes leave through it;
// when the first closes, the second takes over.
func TestModel_TwoAppsOneStore(t *testing.T) {
	url := startServer(t)
	cfg := testConfig(t, url, "alice", filepath.Join(t.TempDir(), "alice.db"))
	first := startApp(t, cfg)
	first.wait("online, syncing the store", func(v View) bool { return v.Status.Online && v.Status.Syncer })
	first.m.CreateList("Home")
	first.wait("the list", func(v View) bool { return v.ListName() == "Home" })

	second := startApp(t, cfg)
	second.wait("the list, and who syncs", func(v View) bool { return v.ListName() == "Home" && !v.Opening && !v.Status.Syncer })
	if w := newWindow(t, second); !w.showsText("another process on this store syncs") {
		t.Fatal("the second window does not say that another process syncs its store")
	}
	second.m.AddTask("from the second")
	first.wait("the second's task, sent", func(v View) bool {
		return slices.Equal(titles(v), []string{"from the second"}) && v.Status.Pending == 0
	})
	second.wait("the task sent", func(v View) bool { return slices.Equal(titles(v), []string{"from the second"}) })

	first.close()
	second.wait("the second syncs", func(v View) bool { return v.Status.Syncer })
	second.m.AddTask("after the first closed")
	second.wait("it sends its own", func(v View) bool { return len(v.Tasks) == 2 && v.Status.Pending == 0 && v.Status.Online })
}
