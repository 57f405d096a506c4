package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/token"
)

const goodRules = `{"collections": {
  "tasks": {
    "schema": {"type": "object", "required": ["title"]},
    "conflict": "refuse"
  }
}}
`

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInstallRules_RefusesBadFilesWithLine: a rules file that does not
// parse or compile is refused with its file, line and reason, and the
// rules in force stay.
func TestInstallRules_RefusesBadFilesWithLine(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	var out logtest.Buffer
	good := writeFile(t, "good.json", goodRules)
	if err := run(context.Background(), []string{"install-rules", "--db", db, good}, &out, nil); err != nil {
		t.Fatalf("install: %v\n%s", err, out.String())
	}
	for _, c := range []struct{ name, body, want string }{
		{"syntax.json", "{\"collections\": {\n  \"tasks\": {\n    \"conflict\": \"refuse\",,\n  }\n}}\n", "syntax.json:3: "},
		{"type.json", "{\"collections\": {\n  \"tasks\": {\n    \"max_record_bytes\": \"big\"\n  }\n}}\n", "type.json:3: "},
		{"schema.json", "{\"collections\": {\n  \"tasks\": {\n    \"conflict\": \"refuse\",\n    \"schema\": {\"type\": \"nosuchtype\"}\n  }\n}}\n", "schema.json:4: collections.tasks.schema: "},
		{"rule.json", "{\"collections\": {\n  \"tasks\": {\n    \"conflict\": \"whoever\"\n  }\n}}\n", "rule.json:3: collections.tasks.conflict: "},
		{"unknown.json", "{\"collections\": {\n  \"tasks\": {\n    \"colour\": \"red\"\n  }\n}}\n", "unknown.json:3: "},
		{"dup.json", "{\"collections\": {\n  \"tasks\": {},\n  \"tasks\": {}\n}}\n", "dup.json:3: "},
		{"name.json", "{\"collections\": {\n  \"bad name\": {}\n}}\n", "name.json:2: collections.bad name: "},
	} {
		path := writeFile(t, c.name, c.body)
		err := run(context.Background(), []string{"install-rules", "--db", db, path}, &out, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	st, err := sqlitestore.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(context.Background(), func(tx server.Tx) error {
		r, err := tx.RecordRules()
		if err == nil && (r.Version != 1 || !strings.Contains(string(r.Source), `"refuse"`)) {
			t.Errorf("rules in force: version %d %s", r.Version, r.Source)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNodes_RulesWithoutRestart: three outpostd processes on one
// Postgres take free-form records; rules installed with outpostd
// install-rules apply on every node from its next write, none restarted.
func TestNodes_RulesWithoutRestart(t *testing.T) {
	const secret = "rules-secret"
	nodes, dsn := startProcNodes(t, 3, secret)
	tok, err := token.Issue([]byte(secret), "ann", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", nodes[0].url()+protocol.PathChannels, tok, protocol.CreateChannelRequest{Type: "team", ID: "rules"}); r.status >= 300 {
		t.Fatalf("create channel: %d %v", r.status, r.body)
	}
	record := func(n *procNode, coll, id, fields string) reply {
		return do(t, "POST", n.url()+"/channels/team:rules/records/"+coll+"/"+id, tok, json.RawMessage(`{"fields":`+fields+`}`))
	}
	for i, n := range nodes {
		if r := record(n, "anything", fmt.Sprint("free", i), `{"x":1}`); r.status != http.StatusCreated {
			t.Fatalf("node %d, free-form record: %d %v", i, r.status, r.body)
		}
	}
	var out logtest.Buffer
	if err := run(context.Background(), []string{"install-rules", "--db", dsn, writeFile(t, "rules.json", goodRules)}, &out, nil); err != nil {
		t.Fatalf("install-rules: %v\n%s", err, out.String())
	}
	for i, n := range nodes {
		if r := record(n, "anything", fmt.Sprint("late", i), `{"x":1}`); r.status != http.StatusBadRequest || r.body["path"] != "/collection" {
			t.Errorf("node %d took a record of a collection the rules do not know: %d %v", i, r.status, r.body)
		}
		if r := record(n, "tasks", fmt.Sprint("t", i), `{"done":true}`); r.status != http.StatusBadRequest || r.body["path"] != "/fields/title" {
			t.Errorf("node %d took a record the schema refuses: %d %v", i, r.status, r.body)
		}
		if r := record(n, "tasks", fmt.Sprint("t", i), `{"title":"ok"}`); r.status != http.StatusCreated {
			t.Errorf("node %d refused a valid record: %d %v", i, r.status, r.body)
		}
	}
}
