package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCLI_BesideTheApp: the outpost CLI, a process of its own, works on
// the store of the running app. Its record writes show in the app at once
// (the store's change log tells the app's change listeners, no polling),
// and the app, which holds the store's sync lock, sends them: bob's app
// gets them from the server. Its reads see what the app wrote.
func TestCLI_BesideTheApp(t *testing.T) {
	dir := t.TempDir()
	outpostCLI := filepath.Join(dir, "outpost")
	build(t, "../..", outpostCLI, "./cmd/outpost")
	alice, bob, acfg := sharedList(t, "Shop")
	alice.m.AddTask("bread")
	v := alice.wait("bread sent", func(v View) bool { return slices.Equal(titles(v), []string{"bread"}) && v.Status.Pending == 0 })
	list := v.List
	if !alice.sdk().Status().Syncer {
		t.Fatal("the app does not hold its store's sync lock")
	}

	cli := func(args ...string) string {
		t.Helper()
		args = append(args[:1:1], append([]string{"--db", acfg.db, "--server", acfg.server, "--user", "alice", "--token", acfg.token}, args[1:]...)...)
		out, err := exec.Command(outpostCLI, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("outpost %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The id sorts after the app's (t, then the time in hex).
	cli("record", "create", tasksCollection, list, "tz-cli", `{"title":"from the CLI"}`)
	want := []string{"bread", "from the CLI"}
	alice.wait("the CLI's task, sent by the app", func(v View) bool { return slices.Equal(titles(v), want) && v.Status.Pending == 0 })
	bob.wait("the CLI's task at bob's", func(v View) bool { return slices.Equal(titles(v), want) })

	cli("record", "patch", tasksCollection, list, "tz-cli", `{"done":true}`)
	want = []string{"bread", "[x] from the CLI"}
	alice.wait("the CLI's tick", func(v View) bool { return slices.Equal(titles(v), want) && v.Status.Pending == 0 })
	bob.wait("the CLI's tick at bob's", func(v View) bool { return slices.Equal(titles(v), want) })

	alice.m.AddTask("eggs")
	alice.wait("eggs", func(v View) bool { return len(v.Tasks) == 3 })
	if out := cli("record", "list", tasksCollection, "--cid", list); !strings.Contains(out, `"eggs"`) || !strings.Contains(out, `"bread"`) {
		t.Fatalf("the CLI lists, from the app's store:\n%s\nwant the app's tasks", out)
	}
}
