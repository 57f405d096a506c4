package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/internal/apitest"
)

// TestRecord_CLI: record writes are stored first and work offline like
// send; get and list read the local DB; import loads JSON lines; the
// other user's device gets it all.
func TestRecord_CLI(t *testing.T) {
	url := startServer(t)
	cid := makeChannel(t, url, "alice", "house", "bob")
	alice := userEnv(t, url, "alice")
	wantOK(t, cli(t, alice, "sync"))

	wantOK(t, cli(t, alice, "record", "create", "tasks", cid, "t1", `{"title":"Buy milk","done":false}`))
	offline := with(alice, "OUTPOST_SERVER", apitest.DeadURL(t))
	r := cli(t, offline, "record", "patch", "tasks", cid, "t1", `{"done":true}`)
	wantOK(t, r)
	if !strings.Contains(r.stderr, "queued (offline)") {
		t.Errorf("offline patch: stderr = %q, want queued (offline)", r.stderr)
	}
	var got recordJSON
	r = cli(t, offline, "record", "get", "tasks", cid, "t1")
	wantOK(t, r)
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || string(got.Fields["done"]) != "true" || got.Status != "pending" {
		t.Fatalf("get offline = %s (%v), want done, pending", r.stdout, err)
	}
	file := filepath.Join(t.TempDir(), "tasks.jsonl")
	lines := `{"collection":"tasks","cid":"` + cid + `","id":"t2","fields":{"title":"Bread","done":false}}
{"collection":"tasks","cid":"` + cid + `","id":"t3","fields":{"title":"Eggs","done":true}}
`
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOK(t, cli(t, alice, "record", "import", file)) // online: sends the offline patch too
	wantOK(t, cli(t, alice, "sync"))

	bob := userEnv(t, url, "bob")
	wantOK(t, cli(t, bob, "sync"))
	r = cli(t, bob, "record", "list", "tasks", "--where", "done=true", "--order", "title")
	wantOK(t, r)
	var list []recordJSON
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list: %v: %s", err, r.stdout)
	}
	var ids []string
	for _, rec := range list {
		ids = append(ids, rec.ID+":"+rec.Status)
	}
	if strings.Join(ids, ",") != "t1:sent,t3:sent" {
		t.Errorf("bob's done tasks = %v, want t1 (Buy milk) and t3 (Eggs), sent", ids)
	}
	wantFail(t, cli(t, alice, "record", "create", "tasks", cid, "bad/id", `{}`), exitUsage, "")
	wantFail(t, cli(t, alice, "record", "create", "tasks", cid, "t9", `[1]`), exitUsage, "JSON object")
}
