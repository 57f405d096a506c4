package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sharedList has alice make a list shared with bob in her app and waits
// until both apps show it, selected.
func sharedList(t *testing.T, alice, bob *instance, name string) {
	t.Helper()
	alice.wait("online", func(v View) bool { return v.Status.Online })
	alice.m.CreateList(name)
	alice.wait("the new list", func(v View) bool { return v.ListName() == name })
	bob.wait("the shared list", func(v View) bool { return v.ListName() == name })
}

func TestModel_BobOfflineAliceOnline(t *testing.T) {
	url := startServer(t)
	dir := t.TempDir()
	acfg := testConfig(t, url, "alice", filepath.Join(dir, "alice.db"))
	acfg.share = []string{"bob"}
	alice := startApp(t, acfg)
	bob := startApp(t, testConfig(t, url, "bob", filepath.Join(dir, "bob.db")))
	sharedList(t, alice, bob, "Groceries")

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
	want := []string{"bread", "milk"}
	bob.wait("both tasks, sent", func(v View) bool { return slices.Equal(titles(v), want) && v.Status.Pending == 0 })
	alice.wait("both tasks (live)", func(v View) bool { return slices.Equal(titles(v), want) })

	// A tick and a delete travel the same way.
	alice.m.Toggle(alice.m.View().Tasks[0].ID)
	bob.wait("bread ticked", func(v View) bool { return slices.Equal(titles(v), []string{"[x] bread", "milk"}) })
	bob.m.Delete(bob.m.View().Tasks[1].ID)
	alice.wait("milk deleted", func(v View) bool { return slices.Equal(titles(v), []string{"[x] bread"}) })
}

// TestModel_RefusedRename: bob may not rename alice's task (the server
// allows it to her and the list's owner); the refusal shows on the task
// and in the failed list, where retry sends it again and dismiss forgets
// it.
func TestModel_RefusedRename(t *testing.T) {
	url := startServer(t)
	dir := t.TempDir()
	acfg := testConfig(t, url, "alice", filepath.Join(dir, "alice.db"))
	acfg.share = []string{"bob"}
	alice := startApp(t, acfg)
	bob := startApp(t, testConfig(t, url, "bob", filepath.Join(dir, "bob.db")))
	sharedList(t, alice, bob, "Chores")
	alice.m.AddTask("dishes")
	v := bob.wait("dishes", func(v View) bool { return slices.Equal(titles(v), []string{"dishes"}) })

	bob.m.Rename(v.Tasks[0].ID, "no dishes")
	v = bob.wait("the refusal", func(v View) bool { return len(v.Failed) == 1 && v.Status.Failed == 1 })
	f := v.Failed[0]
	if f.What != "rename" || f.Task != v.Tasks[0].ID || f.Why == "" {
		t.Fatalf("failure = %+v; want bob's rename of dishes, with a reason", f)
	}
	if got := titles(v); !slices.Equal(got, []string{"dishes"}) && !slices.Equal(got, []string{"no dishes (failed)"}) {
		t.Fatalf("tasks = %q; want the server's title or the refused one marked failed", got)
	}

	ran := v.Ran
	bob.m.Retry(f.ID)
	v = bob.wait("refused again", func(v View) bool { return v.Ran > ran && len(v.Failed) == 1 && v.Status.Pending == 0 })
	bob.m.Dismiss(v.Failed[0].ID)
	v = bob.wait("dismissed", func(v View) bool { return len(v.Failed) == 0 && slices.Equal(titles(v), []string{"dishes"}) })
	if v.Error != "" {
		t.Fatalf("error %q after a dismiss", v.Error)
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
	a.wait("the welcome list", func(v View) bool { return v.ListName() == "Welcome" && len(v.Tasks) == 3 })
	a.close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Fatalf("the demo's directory is still there: %v", err)
	}
}
