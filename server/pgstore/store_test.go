package pgstore_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
	"github.com/outpostsync/outpost/server/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness opens Postgres stores for the conformance suite: each Open a
// fresh schema, each OpenAgain a second pool on it, as a second node.
type harness struct{}

func open(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func (harness) Open(t *testing.T) server.Store { return open(t, pgtest.DSN(t)) }

func (harness) OpenAgain(t *testing.T, st server.Store) server.Store {
	return open(t, st.(*pgstore.Store).DSN())
}

func TestConformance(t *testing.T) {
	pgtest.Server(t) // skips, once, saying why, without Postgres
	storetest.Run(t, harness{})
}
