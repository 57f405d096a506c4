package outpost_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
)

// TestMultiNodeConvergence runs TestConvergence's schedules against three
// outpostd processes on one Postgres database (a fresh one each
// schedule). Each client reaches every node through proxies of its own,
// in a random order (its ServerURL, then ServerURLs), so it starts on a
// random node and moves on when its node goes; besides the schedule's own
// server stops, after about one step in seven a random node is SIGKILLed, or
// started again if it is down. At the end every client store equals the
// server, read through any node, every write landed exactly once or
// sits on its client's failed list, and every channel event a client
// received live (the admin adds and removes members mid-schedule) was
// of a channel it was a member of at that event's seq.
//
// OUTPOST_MULTINODE_SCHEDULES, _OPS and _CLIENTS run more (2 schedules
// of 60 ops, 3 clients by default); -seed replays one.
func TestMultiNodeConvergence(t *testing.T) {
	if testing.Short() {
		t.Skip("builds outpostd and runs three of its processes on Postgres")
	}
	pgtest.Server(t)
	bin := newLoadServer(t, t.TempDir()).bin
	convSchedules(t, "OUTPOST_MULTINODE", 4, 60, func(t *testing.T, seed uint64, ops, clients int) {
		convRunSchedule(t, convStartNodes(t, bin, pgtest.DSN(t), 3), seed, ops, clients, 15)
	})
}

// convNodes are outpostd processes on one Postgres database, each on a
// fixed address, that a schedule SIGKILLs and starts again.
type convNodes struct {
	tb     testing.TB
	nodes  []*loadServer
	up     []bool
	admins []*client.Client // the admin through each node
	st     *pgstore.Store   // the test's own pool, for Prune
}

// convStartNodes starts n processes of the outpostd binary bin on the
// database at dsn.
func convStartNodes(tb testing.TB, bin, dsn string, n int) *convNodes {
	tb.Helper()
	cn := &convNodes{tb: tb}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		ls := &loadServer{bin: bin, addr: addr, db: dsn}
		ls.start(tb)
		cn.nodes = append(cn.nodes, ls)
		cn.up = append(cn.up, true)
	}
	tb.Cleanup(func() {
		for i, ls := range cn.nodes {
			if cn.up[i] {
				ls.kill()
			}
		}
	})
	for _, ls := range cn.nodes {
		cn.admins = append(cn.admins, convAdmin(tb, "http://"+ls.addr))
	}
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	cn.st = st
	return cn
}

func (cn *convNodes) Addrs() []string {
	var out []string
	for _, ls := range cn.nodes {
		out = append(out, ls.addr)
	}
	return out
}

// pick returns the index of a random node that is up (up) or down, or -1.
func (cn *convNodes) pick(rng *rand.Rand, up bool) int {
	var is []int
	for i, u := range cn.up {
		if u == up {
			is = append(is, i)
		}
	}
	if len(is) == 0 {
		return -1
	}
	return is[rng.IntN(len(is))]
}

func (cn *convNodes) Admin(rng *rand.Rand) *client.Client {
	i := cn.pick(rng, true)
	if i < 0 {
		return nil
	}
	return cn.admins[i]
}

func (cn *convNodes) start(i int) string {
	cn.nodes[i].start(cn.tb)
	cn.up[i] = true
	return fmt.Sprintf("node %d start (%s)", i, cn.nodes[i].addr)
}

func (cn *convNodes) Toggle(rng *rand.Rand) string {
	i := rng.IntN(len(cn.nodes))
	if !cn.up[i] {
		return cn.start(i)
	}
	cn.nodes[i].kill()
	cn.up[i] = false
	return fmt.Sprintf("node %d SIGKILL (%s)", i, cn.nodes[i].addr)
}

func (cn *convNodes) StartOne(rng *rand.Rand) string {
	i := cn.pick(rng, false)
	if i < 0 {
		return ""
	}
	return cn.start(i)
}

func (cn *convNodes) StartAll() {
	for i, u := range cn.up {
		if !u {
			cn.start(i)
		}
	}
}

func (cn *convNodes) Prune(ctx context.Context, before time.Time, maxPerChannel int) (int, error) {
	return cn.st.Prune(ctx, before, maxPerChannel)
}
