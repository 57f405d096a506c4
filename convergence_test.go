package outpost_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/sqlitestore"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

// convSeedFlag replays a TestConvergence schedule: go test -run
// TestConvergence -seed=N (with OUTPOST_CONV_SCHEDULES=1 for just that
// one). OUTPOST_CONV_SEED does the same.
var convSeedFlag = flag.Uint64("seed", 0, "TestConvergence: seed of the first schedule (0: time-based)")

func convEnvInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// TestConvergence runs random schedules of writes and faults against one
// real server and several clients, each behind its own fault proxy, then
// heals everything and checks that every store equals the server, that
// every write made it exactly once (or is on the failed list for a reason
// the schedule allows), and that no client received live an event of a
// channel it was not a member of at that event's seq (the schedule adds
// and removes members as it goes).
//
// A schedule is fixed by its seed (logged); the timing of the goroutines
// is not, so a replay reproduces the operations, not every interleaving.
func TestConvergence(t *testing.T) {
	convSchedules(t, "OUTPOST_CONV", 3, 60, func(t *testing.T, seed uint64, ops, clients int) {
		convRunSchedule(t, convStartServer(t), seed, ops, clients, 0)
	})
}

// convSchedules runs schedules one after another, each a subtest named
// by its seed: their number, ops and clients from the environment
// (env+"_SCHEDULES", "_OPS", "_CLIENTS"; defaults schedules, ops and 3),
// the first seed from -seed or OUTPOST_CONV_SEED, else the clock.
func convSchedules(t *testing.T, env string, schedules, ops int, run func(t *testing.T, seed uint64, ops, clients int)) {
	seed := *convSeedFlag
	if s := os.Getenv("OUTPOST_CONV_SEED"); s != "" && seed == 0 {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("OUTPOST_CONV_SEED=%q: %v", s, err)
		}
		seed = n
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	schedules = convEnvInt(t, env+"_SCHEDULES", schedules)
	ops = convEnvInt(t, env+"_OPS", ops)
	clients := convEnvInt(t, env+"_CLIENTS", 3)
	if testing.Short() {
		schedules = min(schedules, 1)
	}
	t.Logf("seed %d, %d schedules of %d ops, %d clients (replay one: -seed=<its seed> with %s_SCHEDULES=1)", seed, schedules, ops, clients, env)
	for i := range schedules {
		s := seed + uint64(i)
		ok := t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			run(t, s, ops, clients)
		})
		if !ok {
			t.Logf("schedule with seed %d failed; replay: go test -run '^%s$' -seed=%d (%s_SCHEDULES=1 %s_OPS=%d)", s, t.Name(), s, env, env, ops)
		}
	}
}

// errConvDown is convBackend.Prune's answer when no store is open.
var errConvDown = errors.New("server down")

// convBackend is the server side of a schedule: one server in this
// process (convServer) or several outpostd nodes on one database
// (convNodes in multinode_test.go).
type convBackend interface {
	// Addrs are the nodes' addresses; each client reaches each node
	// through a fault proxy of its own.
	Addrs() []string
	// Admin returns the admin's REST client through a node that is up,
	// or nil when none is.
	Admin(rng *rand.Rand) *client.Client
	// Toggle stops a node that is up or starts one that is down, and
	// says which.
	Toggle(rng *rand.Rand) string
	// StartOne starts a node that is down and says which; "" if none is.
	StartOne(rng *rand.Rand) string
	// StartAll starts every node that is down.
	StartAll()
	// Prune cuts the head of every log (server.Store's Prune), or
	// returns errConvDown.
	Prune(ctx context.Context, before time.Time, maxPerChannel int) (int, error)
}

// convServer is a real server on a fixed address that the test can stop
// and start again, with a fresh server.Server over the same SQLite file.
type convServer struct {
	tb    testing.TB
	path  string
	fs    *faultproxy.Server
	cur   atomic.Pointer[convGen]
	down  bool
	admin *client.Client
}

// convGen is one run of the server between restarts.
type convGen struct {
	srv      *server.Server
	st       *sqlitestore.Store
	inflight sync.WaitGroup
}

func (cs *convServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := cs.cur.Load()
	if g == nil {
		http.Error(w, "restarting", http.StatusServiceUnavailable)
		return
	}
	g.inflight.Add(1)
	defer g.inflight.Done()
	g.srv.ServeHTTP(w, r)
}

func convStartServer(tb testing.TB) *convServer {
	tb.Helper()
	cs := &convServer{tb: tb, path: filepath.Join(tb.TempDir(), "server.db")}
	cs.cur.Store(cs.newGen())
	fs, err := faultproxy.NewServer(cs)
	if err != nil {
		tb.Fatal(err)
	}
	cs.fs = fs
	tb.Cleanup(func() {
		fs.Close()
		cs.stopGen()
	})
	cs.admin = convAdmin(tb, fs.URL())
	return cs
}

func (cs *convServer) Addrs() []string { return []string{cs.fs.Addr()} }

func (cs *convServer) Admin(*rand.Rand) *client.Client {
	if cs.down {
		return nil
	}
	return cs.admin
}

func (cs *convServer) Toggle(*rand.Rand) string {
	if cs.down {
		cs.Start()
		return "server start"
	}
	cs.Stop()
	return "server stop"
}

func (cs *convServer) StartOne(*rand.Rand) string {
	if !cs.down {
		return ""
	}
	cs.Start()
	return "server start"
}

func (cs *convServer) StartAll() {
	if cs.down {
		cs.Start()
	}
}

func (cs *convServer) Prune(ctx context.Context, before time.Time, maxPerChannel int) (int, error) {
	g := cs.cur.Load()
	if g == nil {
		return 0, errConvDown
	}
	return g.st.Prune(ctx, before, maxPerChannel)
}

func (cs *convServer) newGen() *convGen {
	st, err := sqlitestore.Open(context.Background(), cs.path, nil)
	if err != nil {
		cs.tb.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st, Secret: secret, Logger: slog.New(slog.DiscardHandler),
		HealthInterval: 100 * time.Millisecond})
	if err != nil {
		cs.tb.Fatal(err)
	}
	return &convGen{srv: srv, st: st}
}

// stopGen closes the current run once its handlers are done (Stop closed
// their connections, so they return soon).
func (cs *convServer) stopGen() {
	g := cs.cur.Swap(nil)
	if g == nil {
		return
	}
	g.srv.Close()
	g.inflight.Wait()
	g.st.Close()
}

// Stop takes the server down: listener, connections and the server itself.
func (cs *convServer) Stop() {
	cs.fs.Stop()
	cs.stopGen()
	cs.down = true
}

// Start brings it back on the same address over the same file.
func (cs *convServer) Start() {
	cs.cur.Store(cs.newGen())
	if err := cs.fs.Start(); err != nil {
		cs.tb.Fatal(err)
	}
	cs.down = false
}

// convClient is one user's SDK, its store file and its proxies.
type convClient struct {
	user     string
	path     string
	proxy    convProxies
	addrs    []string // the node each proxy leads to
	c        *outpost.Client
	channels []string

	mu   sync.Mutex       // guards live
	live []protocol.Event // the channel log events it received live
}

// open opens the client's SDK (convOpen) and records the channel log
// events its connection delivers live.
func (cc *convClient) open(tb testing.TB, wait time.Duration) {
	tb.Helper()
	cc.c = convOpen(tb, cc.proxy.URLs(), cc.user, cc.path, wait)
	outpost.ConnOf(cc.c).OnAll(func(e client.Event) {
		ev := e.Event
		if ev.CID == "" || ev.Seq <= 0 || ev.Type.InFeed() {
			return
		}
		cc.mu.Lock()
		cc.live = append(cc.live, ev)
		cc.mu.Unlock()
	})
}

// convProxies are one client's fault proxies, one to each node; a fault
// hits them all.
type convProxies []*faultproxy.Proxy

func (ps convProxies) each(f func(p *faultproxy.Proxy)) {
	for _, p := range ps {
		f(p)
	}
}

func (ps convProxies) Cut()    { ps.each((*faultproxy.Proxy).Cut) }
func (ps convProxies) Reset()  { ps.each((*faultproxy.Proxy).Reset) }
func (ps convProxies) Stall()  { ps.each((*faultproxy.Proxy).Stall) }
func (ps convProxies) Refuse() { ps.each((*faultproxy.Proxy).Refuse) }
func (ps convProxies) Heal()   { ps.each((*faultproxy.Proxy).Heal) }
func (ps convProxies) Close()  { ps.each(func(p *faultproxy.Proxy) { p.Close() }) }

// URLs are the proxies' base URLs, in the client's order.
func (ps convProxies) URLs() []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.URL())
	}
	return out
}

// convOpen opens user's SDK on urls: the first is its ServerURL, the
// others its ServerURLs. tune, if given, changes the config first.
func convOpen(tb testing.TB, urls []string, user, path string, wait time.Duration, tune ...func(*outpost.Config)) *outpost.Client {
	tb.Helper()
	tok, err := token.Issue(secret, user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := outpost.Config{
		ServerURL: urls[0], ServerURLs: urls[1:], UserID: user, Token: tok, DBPath: path, ConnectTimeout: wait,
		Client: client.Config{MinReconnectDelay: 5 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond,
			HealthCheckInterval: 100 * time.Millisecond, HealthTimeout: 700 * time.Millisecond,
			RequestTimeout: 700 * time.Millisecond},
		Sync: syncmanager.Options{RetryMinDelay: 10 * time.Millisecond, RetryMaxDelay: 100 * time.Millisecond,
			RefillMessageLimit: 200},
	}
	for _, f := range tune {
		f(&cfg)
	}
	c, err := outpost.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("open %s: %v", user, err)
	}
	return c
}

// convMsg is what the schedule knows of a message it sent.
type convMsg struct {
	id, cid, author string
	text            string // the author's last text for it
	deleted, hard   bool   // the author deleted it (at some point)
}

// convExpectFail is a write the server must refuse for good.
type convExpectFail struct {
	user, messageID string
	typ             protocol.BatchOpType
}

type convState struct {
	t       *testing.T
	rng     *rand.Rand
	srv     convBackend
	clients []*convClient
	cids    []string // every channel made
	msgs    map[string]*convMsg
	order   []string
	fails   []convExpectFail
	// unreacts counts the schedule's unreacts per user|message|type;
	// reacted is whether the last of its reacts and unreacts was a react.
	unreacts map[string]int
	reacted  map[string]bool
	trace    []string
	step     int
	// traceTail is how many trace lines a failure prints (50);
	// OUTPOST_CONV_TRACE=all prints all, and the trace of passing
	// schedules too.
	traceTail int
	// nodeFaults is the percentage of steps after which a node is also
	// stopped or started (convBackend.Toggle), besides the ops' own.
	nodeFaults int
	// spans is each channel's membership as its log has it, from the
	// admin's answers: per user, the seq ranges of their memberships.
	spans map[string]map[string][]convSpan
}

// convSpan is a membership from the member.added at seq from to the
// member.removed at seq to (0 while it lasts).
type convSpan struct{ from, to int64 }

// joined records the memberships that begin in an answer's member list
// (a member's Version is the seq of its member.added: the schedule
// changes no role).
func (s *convState) joined(cid string, members []protocol.Member) {
	if s.spans[cid] == nil {
		s.spans[cid] = map[string][]convSpan{}
	}
	for _, m := range members {
		sp := s.spans[cid][m.UserID]
		if len(sp) == 0 || sp[len(sp)-1].to != 0 {
			s.spans[cid][m.UserID] = append(sp, convSpan{from: m.Version})
		}
	}
}

// left records the end of user's membership of cid at seq.
func (s *convState) left(cid, user string, seq int64) {
	if sp := s.spans[cid][user]; len(sp) > 0 && sp[len(sp)-1].to == 0 {
		sp[len(sp)-1].to = seq
	}
}

// memberAt reports whether user was a member of cid at seq: the members
// before the event there, plus those it adds (and those it removes).
func (s *convState) memberAt(cid, user string, seq int64) bool {
	for _, sp := range s.spans[cid][user] {
		if sp.from <= seq && (sp.to == 0 || seq <= sp.to) {
			return true
		}
	}
	return false
}

func (s *convState) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("#%02d ", s.step)+fmt.Sprintf(format, args...))
}

// convRunSchedule runs the schedule of seed against srv: nops ops by
// nclients clients, each with its proxies to every node in a random
// order, and nodeFaults percent of steps followed by a node's stop or
// start; then it heals everything and checks.
func convRunSchedule(t *testing.T, srv convBackend, seed uint64, nops, nclients, nodeFaults int) {
	ctx := context.Background()
	s := &convState{t: t, srv: srv, rng: rand.New(rand.NewPCG(seed, 0x0c0ffee)), msgs: map[string]*convMsg{}, unreacts: map[string]int{}, reacted: map[string]bool{}, traceTail: 50, nodeFaults: nodeFaults,
		spans: map[string]map[string][]convSpan{}}
	if os.Getenv("OUTPOST_CONV_TRACE") == "all" {
		s.traceTail = 1 << 30
	}
	t.Cleanup(func() {
		if t.Failed() {
			from := max(0, len(s.trace)-s.traceTail)
			t.Logf("seed %d: last %d of %d trace lines:\n%s", seed, len(s.trace)-from, len(s.trace), strings.Join(s.trace[from:], "\n"))
		}
	})

	// Channels, made by an admin who is in all of them and whose view is
	// the server's truth at the end.
	admin := s.srv.Admin(s.rng)
	users := make([]string, nclients)
	for i := range users {
		users[i] = fmt.Sprintf("u%d", i)
	}
	nch := 2 + s.rng.IntN(2)
	member := map[string][]string{} // user -> cids
	for i := range nch {
		var ms []string
		for _, u := range users {
			if s.rng.IntN(4) != 0 {
				ms = append(ms, u)
			}
		}
		if len(ms) < 2 {
			ms = slices.Clone(users[:2])
		}
		if i == nch-1 {
			// Nobody is left without a channel.
			for _, u := range users {
				if len(member[u]) == 0 && !slices.Contains(ms, u) {
					ms = append(ms, u)
				}
			}
		}
		resp, err := admin.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: fmt.Sprintf("ch%d", i), Members: ms})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ms {
			member[u] = append(member[u], resp.Channel.CID)
		}
		s.cids = append(s.cids, resp.Channel.CID)
		s.joined(resp.Channel.CID, resp.Members)
		s.logf("channel %s members %v", resp.Channel.CID, ms)
	}
	dir := t.TempDir()
	for _, u := range users {
		addrs := s.srv.Addrs()
		if len(addrs) > 1 {
			s.rng.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
		}
		cc := &convClient{user: u, path: filepath.Join(dir, u+".db"), addrs: addrs, channels: member[u]}
		for _, a := range addrs {
			p, err := faultproxy.New(a)
			if err != nil {
				t.Fatal(err)
			}
			cc.proxy = append(cc.proxy, p)
		}
		cc.open(t, 3*time.Second)
		s.logf("%s on %v", u, addrs)
		s.clients = append(s.clients, cc)
	}
	t.Cleanup(func() {
		for _, cc := range s.clients {
			start := time.Now()
			cc.c.Close(context.Background())
			cc.proxy.Close()
			if d := time.Since(start); d > time.Second {
				t.Logf("closing %s took %s", cc.user, d.Round(time.Millisecond))
			}
		}
	})

	for s.step = 1; s.step <= nops; s.step++ {
		start := time.Now()
		s.op(ctx)
		if s.rng.IntN(100) < 20 {
			s.recordOp(ctx)
		}
		if s.nodeFaults > 0 && s.rng.IntN(100) < s.nodeFaults {
			s.logf("%s", s.srv.Toggle(s.rng))
		}
		if d := time.Since(start); d > 300*time.Millisecond {
			s.logf("(that took %s)", d.Round(time.Millisecond))
		}
		if t.Failed() {
			return
		}
	}

	s.step = 0
	s.logf("heal everything")
	s.srv.StartAll()
	for _, cc := range s.clients {
		cc.proxy.Heal()
	}
	start := time.Now()
	s.converge(ctx)
	t.Logf("converged in %s", time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		return
	}
	s.check(ctx)
	s.checkRecords(ctx)
	if t.Failed() {
		return
	}
	s.live(ctx)
	s.checkEntitled()
	if os.Getenv("OUTPOST_CONV_TRACE") == "all" {
		t.Logf("trace:\n%s", strings.Join(s.trace, "\n"))
	}
}

func convAdmin(tb testing.TB, url string) *client.Client {
	tb.Helper()
	return convREST(tb, url, "admin")
}

// convREST returns a REST client of url as user, closed when tb ends.
func convREST(tb testing.TB, url, user string) *client.Client {
	tb.Helper()
	tok, err := token.Issue(secret, user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := client.New(client.Config{ServerURL: url, UserID: user, Token: tok})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// op runs one random operation.
func (s *convState) op(ctx context.Context) {
	t := s.t
	cc := s.clients[s.rng.IntN(len(s.clients))]
	c := cc.c
	r := s.rng.IntN(100)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("step %d: %s %s: %v", s.step, cc.user, what, err)
		}
	}
	switch {
	case r < 25: // send
		cid := cc.channels[s.rng.IntN(len(cc.channels))]
		text := fmt.Sprintf("%s says %d", cc.user, s.step)
		id, err := sentID(c.SendMessage(ctx, cid, outpost.NewMessage{Text: text}))
		must("send", err)
		s.msgs[id] = &convMsg{id: id, cid: cid, author: cc.user, text: text}
		s.order = append(s.order, id)
		s.logf("%s send %s %s", cc.user, cid, id)
	case r < 35: // edit own
		m := s.pickLocal(cc, true)
		if m == nil {
			return
		}
		text := fmt.Sprintf("%s edits %d", cc.user, s.step)
		_, err := c.UpdateMessage(ctx, m.cid, m.id, text)
		must("edit", err)
		m.text = text
		s.logf("%s edit %s", cc.user, m.id)
	case r < 38: // edit someone else's: must end on the failed list
		m := s.pickLocal(cc, false)
		if m == nil {
			return
		}
		_, err := c.UpdateMessage(ctx, m.cid, m.id, "not mine")
		must("foreign edit", err)
		s.fails = append(s.fails, convExpectFail{cc.user, m.id, protocol.OpUpdateMessage})
		s.logf("%s foreign-edit %s (author %s)", cc.user, m.id, m.author)
	case r < 43: // delete own
		m := s.pickLocal(cc, true)
		if m == nil {
			return
		}
		hard := s.rng.IntN(4) == 0
		_, err := c.DeleteMessage(ctx, m.cid, m.id, outpost.DeleteOptions{Hard: hard})
		must("delete", err)
		m.deleted, m.hard = true, m.hard || hard
		s.logf("%s delete %s hard=%v", cc.user, m.id, hard)
	case r < 53: // react
		m := s.pickAny(cc)
		if m == nil {
			return
		}
		typ := []string{"like", "love"}[s.rng.IntN(2)]
		_, err := c.SendReaction(ctx, m.CID, m.ID, typ)
		must("react", err)
		s.reacted[cc.user+"|"+m.ID+"|"+typ] = true
		s.logf("%s react %s %s", cc.user, m.ID, typ)
	case r < 58: // unreact one of the user's reactions it sees
		var mine []offlinedb.Reaction
		for _, cid := range cc.channels {
			for _, m := range convLocalAll(t, c, cid, false) {
				rs, err := outpost.StoreOf(c).Reactions(ctx, m.ID)
				must("reactions", err)
				for _, r := range rs {
					if r.UserID == cc.user {
						mine = append(mine, r)
					}
				}
			}
		}
		if len(mine) == 0 {
			return
		}
		r := mine[s.rng.IntN(len(mine))]
		_, err := c.DeleteReaction(ctx, r.CID, r.MessageID, r.Type)
		must("unreact", err)
		s.unreacts[cc.user+"|"+r.MessageID+"|"+r.Type]++
		s.reacted[cc.user+"|"+r.MessageID+"|"+r.Type] = false
		s.logf("%s unreact %s %s (%s)", cc.user, r.MessageID, r.Type, r.Status)
	case r < 63: // mark read
		cid := cc.channels[s.rng.IntN(len(cc.channels))]
		_, err := c.MarkRead(ctx, cid)
		must("mark read", err)
		s.logf("%s mark-read %s", cc.user, cid)
	case r < 67: // offline
		cc.proxy.Refuse()
		cc.proxy.Cut()
		s.logf("%s offline (refuse+cut)", cc.user)
	case r < 74: // heal
		cc.proxy.Heal()
		s.logf("%s heal", cc.user)
	case r < 79: // a write, then cut while it is in flight
		cid := cc.channels[s.rng.IntN(len(cc.channels))]
		text := fmt.Sprintf("%s says %d (cut)", cc.user, s.step)
		id, err := sentID(c.SendMessage(ctx, cid, outpost.NewMessage{Text: text}))
		must("send", err)
		s.msgs[id] = &convMsg{id: id, cid: cid, author: cc.user, text: text}
		s.order = append(s.order, id)
		if s.rng.IntN(2) == 0 {
			cc.proxy.Reset()
		} else {
			cc.proxy.Cut()
		}
		s.logf("%s send %s %s, then cut", cc.user, cid, id)
	case r < 82: // stall
		cc.proxy.Stall()
		s.logf("%s stall", cc.user)
	case r < 85: // server restart (down now, up on a later step)
		s.logf("%s", s.srv.Toggle(s.rng))
	case r < 87:
		if what := s.srv.StartOne(s.rng); what != "" {
			s.logf("%s", what)
		}
	case r < 91: // client restart over the same file
		start := time.Now()
		cc.c.Close(context.Background())
		if d := time.Since(start); d > time.Second {
			s.logf("(closing %s took %s)", cc.user, d.Round(time.Millisecond))
		}
		cc.open(t, -1)
		s.logf("%s restart", cc.user)
	case r < 93: // the server cuts every channel's history to a few events
		keep := 1 + s.rng.IntN(4)
		n, err := s.srv.Prune(ctx, time.Now().Add(-time.Hour), keep)
		if errors.Is(err, errConvDown) {
			return
		}
		must("prune", err)
		s.logf("server prunes to %d events a channel (%d went)", keep, n)
	case r < 95: // the admin makes a channel with some users
		admin := s.srv.Admin(s.rng)
		if admin == nil {
			return
		}
		var ms []string
		for _, o := range s.clients {
			if s.rng.IntN(2) == 0 {
				ms = append(ms, o.user)
			}
		}
		if len(ms) == 0 {
			ms = []string{cc.user}
		}
		resp, err := admin.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: fmt.Sprintf("ch%d", len(s.cids)), Members: ms})
		must("create channel", err)
		if err != nil {
			return
		}
		s.cids = append(s.cids, resp.Channel.CID)
		s.joined(resp.Channel.CID, resp.Members)
		for _, o := range s.clients {
			if slices.Contains(ms, o.user) {
				o.channels = append(o.channels, resp.Channel.CID)
			}
		}
		s.logf("admin makes %s with %v", resp.Channel.CID, ms)
	case r < 96: // the admin removes a user from one of its channels
		admin := s.srv.Admin(s.rng)
		if admin == nil || len(cc.channels) < 2 {
			return
		}
		cid := cc.channels[s.rng.IntN(len(cc.channels))]
		tasks, err := c.PendingTasks(ctx)
		must("pending tasks", err)
		if slices.ContainsFunc(tasks, func(t offlinedb.PendingTask) bool { return t.CID == cid }) {
			return // its writes there would be refused: not this schedule's point
		}
		resp, err := admin.RemoveMember(ctx, cid, cc.user, client.IdempotencyKey(fmt.Sprintf("rm-%d", s.step)))
		must("remove member", err)
		if err != nil {
			return
		}
		s.left(cid, cc.user, resp.Channel.Version)
		cc.channels = slices.DeleteFunc(cc.channels, func(x string) bool { return x == cid })
		s.logf("admin removes %s from %s at seq %d", cc.user, cid, resp.Channel.Version)
	case r < 98: // the admin adds a user to a channel it is not in
		admin := s.srv.Admin(s.rng)
		var out []string
		for _, cid := range s.cids {
			if !slices.Contains(cc.channels, cid) {
				out = append(out, cid)
			}
		}
		if admin == nil || len(out) == 0 {
			return
		}
		cid := out[s.rng.IntN(len(out))]
		resp, err := admin.AddMembers(ctx, cid, []string{cc.user}, client.IdempotencyKey(fmt.Sprintf("add-%d", s.step)))
		must("add member", err)
		if err != nil {
			return
		}
		s.joined(cid, resp.Members)
		cc.channels = append(cc.channels, cid)
		s.logf("admin adds %s to %s at seq %d", cc.user, cid, resp.Channel.Version)
	default: // let the client work for a moment
		deadline := time.Now().Add(time.Duration(50+s.rng.IntN(250)) * time.Millisecond)
		for time.Now().Before(deadline) && c.Status().Pending > 0 {
			time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
		}
		s.logf("%s settle (pending %d)", cc.user, c.Status().Pending)
	}
}

// pickLocal picks a message the user sees in its store: its own (own) or
// someone else's, that the schedule sent.
func (s *convState) pickLocal(cc *convClient, own bool) *convMsg {
	var cands []*convMsg
	for _, cid := range cc.channels {
		for _, m := range convLocalAll(s.t, cc.c, cid, false) {
			sm := s.msgs[m.ID]
			if sm != nil && (sm.author == cc.user) == own {
				cands = append(cands, sm)
			}
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[s.rng.IntN(len(cands))]
}

// pickAny picks any live message of the user's store.
func (s *convState) pickAny(cc *convClient) *offlinedb.Message {
	var cands []offlinedb.Message
	for _, cid := range cc.channels {
		cands = append(cands, convLocalAll(s.t, cc.c, cid, false)...)
	}
	if len(cands) == 0 {
		return nil
	}
	return &cands[s.rng.IntN(len(cands))]
}

// convLocalAll returns all of a channel's messages in a store, oldest
// first: the latest page with a limit above any schedule's size.
func convLocalAll(tb testing.TB, c *outpost.Client, cid string, deleted bool) []offlinedb.Message {
	tb.Helper()
	ms, err := outpost.StoreOf(c).Messages(context.Background(), cid, offlinedb.MessagesQuery{Limit: 100000, IncludeDeleted: deleted})
	if err != nil {
		tb.Fatalf("local messages of %s: %v", cid, err)
	}
	return ms
}

// converge brings every client online and syncs until every outbox is
// empty and every client synced after the last drain.
func (s *convState) converge(ctx context.Context) {
	t := s.t
	deadline := time.Now().Add(30 * time.Second)
	for round := 0; ; round++ {
		if time.Now().After(deadline) {
			for _, cc := range s.clients {
				st := cc.c.Status()
				t.Errorf("%s did not converge: healthy=%v %+v", cc.user, outpost.ConnOf(cc.c).IsHealthy(), st)
			}
			return
		}
		done := true
		for _, cc := range s.clients {
			if !outpost.ConnOf(cc.c).IsHealthy() {
				done = false
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := cc.c.SyncNow(sctx)
			cancel()
			tasks, terr := cc.c.PendingTasks(ctx)
			if terr != nil {
				t.Fatal(terr)
			}
			if err != nil || len(tasks) > 0 {
				done = false
			}
		}
		if !done {
			time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
			continue
		}
		// Everyone drained; one more sync each brings the others' writes.
		for _, cc := range s.clients {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := cc.c.SyncNow(sctx)
			cancel()
			if err != nil {
				done = false
			}
		}
		if done {
			s.logf("converged after %d rounds", round+1)
			return
		}
	}
}

// live checks live delivery once everything converged: with the clients
// spread over the nodes, each client in turn sends a message to one of
// its channels, and every other member's store gets it without a sync
// (on several nodes, through the node's follower when the sender is on
// another node). One message at a time, so that a lost event leaves no
// gap behind which a later one would ask for a sync. A member that
// synced meanwhile (it reconnected: the SDK syncs then) proves nothing;
// the sender tries again, up to three messages.
func (s *convState) live(ctx context.Context) {
	t := s.t
	start := time.Now()
	s.spread()
	for _, from := range s.clients {
		cid := from.channels[s.rng.IntN(len(from.channels))]
		var to []*convClient
		for _, cc := range s.clients {
			if cc != from && slices.Contains(cc.channels, cid) {
				to = append(to, cc)
			}
		}
		for try := 1; ; try++ {
			synced := map[*convClient]time.Time{}
			for _, cc := range to {
				synced[cc] = cc.c.Status().LastSyncedAt
			}
			id, err := sentID(from.c.SendMessage(ctx, cid, outpost.NewMessage{Text: from.user + " live"}))
			if err != nil {
				t.Fatalf("%s: live send: %v", from.user, err)
			}
			s.logf("%s live send %s %s", from.user, cid, id)
			sent := time.Now()
			var bySync []string
			for _, cc := range to {
				for !slices.ContainsFunc(convLocalAll(t, cc.c, cid, false), func(m offlinedb.Message) bool { return m.ID == id }) {
					if time.Since(sent) > 10*time.Second {
						t.Errorf("%s: %s's live message %s in %s did not arrive in 10s", cc.user, from.user, id, cid)
						return
					}
					time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
				}
				if !cc.c.Status().LastSyncedAt.Equal(synced[cc]) {
					bySync = append(bySync, cc.user)
				}
			}
			if len(bySync) == 0 {
				break
			}
			s.logf("%v synced before %s arrived", bySync, id)
			if try == 3 {
				t.Errorf("%s's live messages in %s reached %v only through a sync, %d times", from.user, cid, bySync, try)
				return
			}
		}
	}
	s.logf("live messages delivered in %s", time.Since(start).Round(time.Millisecond))
}

// spread moves client i to node i (mod the number of nodes), by refusing
// and cutting its proxies to the others, and waits until it is connected
// there and synced.
func (s *convState) spread() {
	t := s.t
	addrs := s.srv.Addrs()
	for i, cc := range s.clients {
		to := slices.Index(cc.addrs, addrs[i%len(addrs)])
		for j, p := range cc.proxy {
			if j != to {
				p.Refuse()
				p.Cut()
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, cc := range s.clients {
		to := slices.Index(cc.addrs, addrs[i%len(addrs)])
		for cc.proxy[to].Conns() == 0 || !outpost.ConnOf(cc.c).IsHealthy() || !cc.c.Status().Synced {
			if time.Now().After(deadline) {
				t.Fatalf("%s not connected and synced through node %s in 10s: %+v", cc.user, cc.addrs[to], cc.c.Status())
			}
			time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
		}
		s.logf("%s on node %s", cc.user, cc.addrs[to])
	}
}

// checkEntitled checks that every channel event each client received
// live was of a channel it was a member of at that event's place in the
// log (docs/PROTOCOL.md, "Who receives an event live").
func (s *convState) checkEntitled() {
	n := 0
	for _, cc := range s.clients {
		cc.mu.Lock()
		live := slices.Clone(cc.live)
		cc.mu.Unlock()
		n += len(live)
		for _, ev := range live {
			if !s.memberAt(ev.CID, cc.user, ev.Seq) {
				s.t.Errorf("%s received %s (seq %d) of %s live, not a member there (memberships %v)",
					cc.user, ev.Type, ev.Seq, ev.CID, s.spans[ev.CID][cc.user])
			}
		}
	}
	s.logf("%d live channel events, each to a member at its seq", n)
}

type convView struct {
	text    string
	deleted bool
	counts  string
}

func convCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	return strings.Join(parts, ",")
}

func (v convView) String() string {
	d := ""
	if v.deleted {
		d = " (deleted)"
	}
	return fmt.Sprintf("%q%s [%s]", v.text, d, v.counts)
}

// convServerMessages pages through a channel's messages on the server.
func convServerMessages(tb testing.TB, admin *client.Client, cid string) []protocol.Message {
	tb.Helper()
	var out []protocol.Message
	after := ""
	for {
		resp, err := admin.QueryMessages(context.Background(), cid, client.MessagesQuery{Limit: 200, After: after})
		if err != nil {
			tb.Fatalf("server messages of %s: %v", cid, err)
		}
		if after == "" && len(resp.Messages) == 200 {
			tb.Fatalf("channel %s has over 200 messages; the oracle pages only forward from the oldest", cid)
		}
		out = append(out, resp.Messages...)
		if len(resp.Messages) < 200 {
			return out
		}
		after = resp.Messages[len(resp.Messages)-1].ID
	}
}

// check compares every store with the server (each channel read through
// a node of convBackend.Admin's choice) and the server with what the
// schedule wrote.
func (s *convState) check(ctx context.Context) {
	t := s.t
	server := map[string]protocol.Message{} // id -> message
	byCID := map[string]map[string]convView{}
	reads := map[string]map[string]string{}
	for _, cid := range s.cids {
		admin := s.srv.Admin(s.rng)
		view := map[string]convView{}
		for _, m := range convServerMessages(t, admin, cid) {
			if _, dup := server[m.ID]; dup {
				t.Errorf("server lists message %s twice", m.ID)
			}
			server[m.ID] = m
			view[m.ID] = convView{m.Text, m.DeletedAt != nil, convCounts(m.ReactionCounts)}
		}
		byCID[cid] = view
		ch, err := admin.GetChannel(ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		rv := map[string]string{}
		for _, r := range ch.Reads {
			rv[r.UserID] = r.LastReadAt.UTC().Format(time.RFC3339Nano) + "/" + r.LastReadMessageID
		}
		reads[cid] = rv
	}

	// The failed lists: only what the schedule allows, and all it must.
	failed := map[string][]offlinedb.FailedTask{}
	refused := map[string]map[string]bool{} // user -> message ids with a failed task
	for _, cc := range s.clients {
		fts, err := cc.c.FailedTasks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		failed[cc.user] = fts
		refused[cc.user] = map[string]bool{}
		for _, f := range fts {
			refused[cc.user][f.MessageID] = true
		}
		for _, f := range fts {
			m := s.msgs[f.MessageID]
			switch {
			case f.RecordID != "":
				// Record writes may be refused (a record that exists, or
				// is gone, a failed precondition): checkRecords checks
				// their reasons.
			case m != nil && m.deleted:
				// A write on a message its author deleted may be refused.
			case m != nil && m.author != cc.user && (f.Type == protocol.OpUpdateMessage || f.Type == protocol.OpDeleteMessage):
				// Not the author: refused, as expected below.
			case f.Type == protocol.OpDeleteReaction && f.ErrorCode == protocol.CodeNotFound && s.unreacts[cc.user+"|"+f.MessageID+"|"+convReactionType(f.Payload)] > 1:
				// A pending unreact stays unreacted whatever the server
				// answers meanwhile, so a user never removes a reaction
				// twice.
				t.Errorf("%s: a second unreact of %s was refused (an answer showed the reaction under a pending unreact): %s", cc.user, f.MessageID, f.Error)
			default:
				t.Errorf("%s: unexpected failed task %s %s on %s: %s (code %d)", cc.user, f.ID, f.Type, f.MessageID, f.Error, f.ErrorCode)
			}
			if f.ErrorCode == 0 || f.Error == "" {
				t.Errorf("%s: failed task %s %s has no server error: %q (code %d)", cc.user, f.ID, f.Type, f.Error, f.ErrorCode)
			}
		}
		if tasks, err := cc.c.PendingTasks(ctx); err != nil || len(tasks) > 0 {
			t.Errorf("%s: pending tasks left: %d, %v", cc.user, len(tasks), err)
		}
	}
	for _, e := range s.fails {
		found := false
		for _, f := range failed[e.user] {
			found = found || (f.MessageID == e.messageID && f.Type == e.typ)
		}
		if !found {
			t.Errorf("%s's %s of %s (not the author) is not on the failed list", e.user, e.typ, e.messageID)
		}
	}

	// Every send exactly once, with its author's last text.
	for _, id := range s.order {
		m := s.msgs[id]
		sm, ok := server[id]
		switch {
		case m.hard:
			if ok {
				t.Errorf("message %s was hard-deleted by %s but the server has %q", id, m.author, sm.Text)
			}
		case m.deleted:
			if ok && sm.DeletedAt == nil {
				t.Errorf("message %s was deleted by %s but is live on the server: %q", id, m.author, sm.Text)
			}
		case !ok:
			t.Errorf("message %s sent by %s to %s is not on the server", id, m.author, m.cid)
		default:
			if sm.Text != m.text || sm.UserID != m.author || sm.CID != m.cid {
				t.Errorf("message %s on the server: %s by %s in %s, want %q by %s in %s", id, strconv.Quote(sm.Text), sm.UserID, sm.CID, m.text, m.author, m.cid)
			}
		}
	}
	for id, sm := range server {
		if m := s.msgs[id]; m == nil || m.author != sm.UserID {
			t.Errorf("server has message %s by %s that no client sent", id, sm.UserID)
		}
	}

	// Each user's reactions are what it did last, on live messages.
	clientOf := map[string]*convClient{}
	for _, cc := range s.clients {
		clientOf[cc.user] = cc
	}
	for key, want := range s.reacted {
		parts := strings.Split(key, "|")
		user, id, typ := parts[0], parts[1], parts[2]
		if m := s.msgs[id]; m == nil || m.deleted || !slices.Contains(clientOf[user].channels, m.cid) {
			continue
		}
		rs, err := outpost.StoreOf(clientOf[user].c).Reactions(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.ContainsFunc(rs, func(r offlinedb.Reaction) bool { return r.UserID == user && r.Type == typ })
		if got != want {
			t.Errorf("%s's %s reaction to %s: present = %v, want %v (its last write)", user, typ, id, got, want)
		}
	}

	// Every store equals the server for its channels.
	for _, cc := range s.clients {
		chs, _, err := cc.c.Channels(ctx, offlinedb.ChannelsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range chs {
			got = append(got, ch.CID)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(cc.channels))
		if !slices.Equal(got, want) {
			t.Errorf("%s's channels = %v, want %v", cc.user, got, want)
		}
		for _, cid := range cc.channels {
			local := map[string]convView{}
			showsRefused := map[string]bool{}
			for _, m := range convLocalAll(t, cc.c, cid, true) {
				if refused[cc.user][m.ID] && m.Status == offlinedb.StatusFailed {
					showsRefused[m.ID] = true
					// A refused write rolls its row back to the server's
					// version: it never shows.
					t.Errorf("%s: message %s shows the refused write %q (%s)", cc.user, m.ID, m.Text, m.Error)
					continue
				}
				if m.Status != offlinedb.StatusSent {
					t.Errorf("%s: message %s is %s (%s)", cc.user, m.ID, m.Status, m.Error)
				}
				rs, err := outpost.StoreOf(cc.c).Reactions(ctx, m.ID)
				if err != nil {
					t.Fatal(err)
				}
				rc := map[string]int{}
				for _, r := range rs {
					rc[r.Type]++
					if r.Status != offlinedb.StatusSent {
						t.Errorf("%s: reaction %s/%s/%s is %s (%s)", cc.user, r.MessageID, r.UserID, r.Type, r.Status, r.Error)
					}
				}
				if a, b := convCounts(rc), convCounts(m.ReactionCounts); a != b && m.DeletedAt == nil {
					t.Errorf("%s: message %s has reaction rows [%s] but counts [%s]", cc.user, m.ID, a, b)
				}
				local[m.ID] = convView{m.Text, m.DeletedAt != nil, convCounts(m.ReactionCounts)}
			}
			want := byCID[cid]
			for id, w := range want {
				if showsRefused[id] {
					continue
				}
				if g, ok := local[id]; !ok {
					t.Errorf("%s: %s: message %s missing, server has %v", cc.user, cid, id, w)
				} else if g != w {
					t.Errorf("%s: %s: message %s is %v, server has %v", cc.user, cid, id, g, w)
				}
			}
			for id, g := range local {
				if _, ok := want[id]; !ok {
					t.Errorf("%s: %s: message %s (%v) is not on the server", cc.user, cid, id, g)
				}
			}
			lr, err := outpost.StoreOf(cc.c).Reads(ctx, cid)
			if err != nil {
				t.Fatal(err)
			}
			gotReads := map[string]string{}
			for _, r := range lr {
				gotReads[r.UserID] = r.LastReadAt.UTC().Format(time.RFC3339Nano) + "/" + r.LastReadMessageID
			}
			if !maps.Equal(gotReads, reads[cid]) {
				t.Errorf("%s: %s: reads %v, server %v", cc.user, cid, gotReads, reads[cid])
			}
		}
		// Synced drops while a connection is re-made (a health check that
		// timed out on a loaded machine), so the status is polled, bounded.
		deadline := time.Now().Add(15 * time.Second)
		st := cc.c.Status()
		for (st.Pending != 0 || !st.Synced) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			st = cc.c.Status()
		}
		if st.Pending != 0 || !st.Synced {
			t.Errorf("%s: status %+v, want synced with nothing pending", cc.user, st)
		}
	}
}

func convReactionType(payload []byte) string {
	var p protocol.DeleteReactionBody
	_ = json.Unmarshal(payload, &p)
	return p.Type
}
