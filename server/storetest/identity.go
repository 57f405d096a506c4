package storetest

import (
	"testing"

	"github.com/outpostsync/outpost/server"
)

// testServerID: a database has one server id, made with it: every store
// instance on it (every node) reports it, again and again; another
// database has another.
func testServerID(t *testing.T, h Harness) {
	one := h.Open(t)
	id := serverID(t, one)
	if id == "" {
		t.Fatal("ServerID is empty")
	}
	if again := serverID(t, one); again != id {
		t.Errorf("ServerID changed from %q to %q", id, again)
	}
	if node := serverID(t, h.OpenAgain(t, one)); node != id {
		t.Errorf("a second node on the same database reports %q, the first %q", node, id)
	}
	if other := serverID(t, h.Open(t)); other == id {
		t.Errorf("a new database reports the server id %q of another", other)
	}
}

func serverID(t *testing.T, st server.Store) string {
	t.Helper()
	id, err := st.ServerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
