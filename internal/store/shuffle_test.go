package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// serverSim makes a realistic event stream the way the server would: one
// sequence per channel, every changed entity carrying the sequence number
// of the event that changed it as its version, full entities in events.
type serverSim struct {
	rng     *rand.Rand
	clock   time.Time
	seq     map[string]int64
	msgs    map[string]*protocol.Message // live (not hard-deleted) messages
	members map[string]map[string]bool
	react   map[string]bool // message|user|type of live reactions
	events  []*protocol.Event
	touches [][]string // entity keys each event touches, for ordering
	nextID  int
}

func newServerSim(seed uint64) *serverSim {
	return &serverSim{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), clock: t0, seq: map[string]int64{},
		msgs: map[string]*protocol.Message{}, members: map[string]map[string]bool{}, react: map[string]bool{}}
}

func (s *serverSim) emit(ev *protocol.Event, keys ...string) int64 {
	s.clock = s.clock.Add(time.Duration(1+s.rng.IntN(3)) * time.Millisecond)
	s.nextID++
	ev.ID = fmt.Sprintf("ev%05d", s.nextID)
	ev.CreatedAt = s.clock
	if ev.CID != "" {
		s.seq[ev.CID]++
		ev.Seq = s.seq[ev.CID]
	}
	s.events = append(s.events, ev)
	s.touches = append(s.touches, keys)
	return ev.Seq
}

func (s *serverSim) pick(m map[string]*protocol.Message) *protocol.Message {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Map order is random per run; sort so a seed replays exactly.
	sortStrings(keys)
	return m[keys[s.rng.IntN(len(keys))]]
}

func sortStrings(a []string) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func (s *serverSim) run(steps int) {
	cids := []string{"team:a", "team:b", "dm:x"}
	for _, cid := range cids {
		typ, id, _ := protocol.SplitCID(cid)
		ev := &protocol.Event{Type: protocol.EventChannelCreated, CID: cid}
		v := s.emit(ev, "c:"+cid)
		ev.Channel = &protocol.Channel{CID: cid, Type: typ, ID: id, Name: "ch " + id, CreatedAt: s.clock, Version: v}
	}
	users := []string{"alice", "bob", "carol"}
	for i := 0; i < steps; i++ {
		cid := cids[s.rng.IntN(len(cids))]
		user := users[s.rng.IntN(len(users))]
		copyMsg := func(m *protocol.Message) *protocol.Message { c := *m; return &c }
		switch op := s.rng.IntN(12); {
		case op < 4: // new message
			id := fmt.Sprintf("m%04d", i)
			ev := &protocol.Event{Type: protocol.EventMessageNew, CID: cid}
			v := s.emit(ev, "m:"+id)
			m := &protocol.Message{ID: id, CID: cid, UserID: user, Text: "text " + id, CreatedAt: s.clock, UpdatedAt: s.clock, Version: v}
			s.msgs[id] = m
			ev.Message = copyMsg(m)
		case op < 6: // edit, soft delete or undelete
			m := s.pick(s.msgs)
			if m == nil {
				continue
			}
			typ := protocol.EventMessageUpdated
			switch {
			case m.DeletedAt != nil:
				typ = protocol.EventMessageUndeleted
			case s.rng.IntN(3) == 0:
				typ = protocol.EventMessageDeleted
			}
			ev := &protocol.Event{Type: typ, CID: m.CID}
			v := s.emit(ev, "m:"+m.ID)
			m.Version, m.UpdatedAt = v, s.clock
			switch typ {
			case protocol.EventMessageUpdated:
				m.Text = fmt.Sprintf("edit %d of %s", v, m.ID)
			case protocol.EventMessageDeleted:
				d := s.clock
				m.DeletedAt = &d
			case protocol.EventMessageUndeleted:
				m.DeletedAt = nil
			}
			ev.Message = copyMsg(m)
		case op == 6: // hard delete
			m := s.pick(s.msgs)
			if m == nil {
				continue
			}
			ev := &protocol.Event{Type: protocol.EventMessageDeleted, CID: m.CID, HardDelete: true}
			keys := []string{"m:" + m.ID}
			for k := range s.react {
				if strings.HasPrefix(k, m.ID+"|") {
					keys = append(keys, "r:"+k)
					delete(s.react, k)
				}
			}
			m.Version = s.emit(ev, keys...)
			ev.Message = copyMsg(m)
			delete(s.msgs, m.ID)
		case op < 9: // reaction add or remove
			m := s.pick(s.msgs)
			if m == nil {
				continue
			}
			rtype := []string{"like", "love"}[s.rng.IntN(2)]
			key := m.ID + "|" + user + "|" + rtype
			typ := protocol.EventReactionNew
			if s.react[key] {
				typ = protocol.EventReactionDeleted
			}
			ev := &protocol.Event{Type: typ, CID: m.CID}
			v := s.emit(ev, "r:"+key, "m:"+m.ID)
			s.react[key] = typ == protocol.EventReactionNew
			if m.ReactionCounts == nil {
				m.ReactionCounts = map[string]int{}
			}
			if typ == protocol.EventReactionNew {
				m.ReactionCounts[rtype]++
			} else {
				m.ReactionCounts[rtype]--
			}
			counts := map[string]int{}
			for k, n := range m.ReactionCounts {
				counts[k] = n
			}
			m.Version = v
			ev.Message = copyMsg(m)
			ev.Message.ReactionCounts = counts
			ev.Reaction = &protocol.Reaction{MessageID: m.ID, CID: m.CID, UserID: user, Type: rtype, Score: int(v), CreatedAt: s.clock, Version: v}
		case op < 11: // member add or remove
			if s.members[cid] == nil {
				s.members[cid] = map[string]bool{}
			}
			typ := protocol.EventMemberAdded
			if s.members[cid][user] {
				typ = []protocol.EventType{protocol.EventMemberRemoved, protocol.EventMemberUpdated}[s.rng.IntN(2)]
			}
			ev := &protocol.Event{Type: typ, CID: cid}
			v := s.emit(ev, "u:"+cid+"|"+user, "c:"+cid)
			s.members[cid][user] = typ != protocol.EventMemberRemoved
			ev.Member = &protocol.Member{CID: cid, UserID: user, Role: "role" + strconv.Itoa(int(v)), CreatedAt: s.clock, Version: v}
			typ2, id2, _ := protocol.SplitCID(cid)
			n := 0
			for _, in := range s.members[cid] {
				if in {
					n++
				}
			}
			ev.Channel = &protocol.Channel{CID: cid, Type: typ2, ID: id2, MemberCount: n, Version: v}
		default: // read
			ev := &protocol.Event{Type: protocol.EventMessageRead, CID: cid, UserID: user}
			v := s.emit(ev, "read:"+cid+"|"+user)
			ev.Read = &protocol.Read{CID: cid, UserID: user, LastReadAt: s.clock, UnreadMessages: int(v % 5), Version: v}
		}
	}
}

// order returns a random order of the events that keeps, for each entity,
// its events in version order: the orders a correct store must converge
// under.
func (s *serverSim) order(rng *rand.Rand) []*protocol.Event {
	last := map[string]int{} // entity key -> index of its latest event so far
	deps := make([][]int, len(s.events))
	for i, keys := range s.touches {
		for _, k := range keys {
			if j, ok := last[k]; ok {
				deps[i] = append(deps[i], j)
			}
			last[k] = i
		}
	}
	waiting := make([]int, len(s.events))
	after := make([][]int, len(s.events))
	for i, ds := range deps {
		waiting[i] = len(ds)
		for _, d := range ds {
			after[d] = append(after[d], i)
		}
	}
	var ready, out []int
	for i, n := range waiting {
		if n == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		k := rng.IntN(len(ready))
		i := ready[k]
		ready[k] = ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		out = append(out, i)
		for _, j := range after[i] {
			if waiting[j]--; waiting[j] == 0 {
				ready = append(ready, j)
			}
		}
	}
	evs := make([]*protocol.Event, len(out))
	for i, j := range out {
		evs[i] = s.events[j]
	}
	return evs
}

// dump renders every table the events touch, in a fixed order.
func dump(tb testing.TB, db *store.DB) string {
	tb.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT cid, name, member_count, version, last_seq, stub, hidden, coalesce(last_message_at, 0) FROM channels ORDER BY cid`,
		`SELECT id, cid, user_id, text, coalesce(deleted_at, 0), coalesce(reaction_counts, ''), version, status FROM messages ORDER BY id`,
		`SELECT message_id, user_id, type, score, version FROM reactions ORDER BY 1, 2, 3`,
		`SELECT cid, user_id, role, version FROM members ORDER BY 1, 2`,
		`SELECT cid, user_id, last_read_at, unread_messages, version FROM reads ORDER BY 1, 2`,
		`SELECT kind, key, version FROM tombstones ORDER BY 1, 2`,
	} {
		rows, err := store.SQLX(db).Queryx(q)
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

func applyPages(tb testing.TB, db *store.DB, evs []*protocol.Event, rng *rand.Rand) {
	tb.Helper()
	for len(evs) > 0 {
		n := 1 + rng.IntN(min(len(evs), 40))
		apply(tb, db, evs[:n]...)
		evs = evs[n:]
	}
}

// TestApplyEvent_ShuffleAndRepeat applies one server history in order, in
// order twice, and in many random orders that keep each entity's own
// version order, with stale duplicates mixed in and random page splits:
// every run must end in the same rows. OUTPOST_SHUFFLE_RUNS runs more.
func TestApplyEvent_ShuffleAndRepeat(t *testing.T) {
	runs := 12
	if s := os.Getenv("OUTPOST_SHUFFLE_RUNS"); s != "" {
		runs, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	for seed := uint64(1); seed <= uint64(runs); seed++ {
		sim := newServerSim(seed)
		sim.run(150)

		db := openTestDB(t)
		apply(t, db, sim.events...)
		want := dump(t, db)
		apply(t, db, sim.events...)
		if got := dump(t, db); got != want {
			t.Fatalf("seed %d: applying the history twice changed the rows:\n%s", seed, diff(want, got))
		}

		rng := rand.New(rand.NewPCG(seed, 7))
		for trial := 0; trial < 3; trial++ {
			if err := db.ResetDB(ctx); err != nil {
				t.Fatal(err)
			}
			evs := sim.order(rng)
			// Stale duplicates: replay random earlier events later on.
			for k := 0; k < len(evs)/5; k++ {
				i := rng.IntN(len(evs))
				j := i + rng.IntN(len(evs)-i)
				evs = append(evs[:j+1], append([]*protocol.Event{evs[i]}, evs[j+1:]...)...)
			}
			applyPages(t, db, evs, rng)
			if got := dump(t, db); got != want {
				t.Fatalf("seed %d trial %d: a reordered history gave other rows:\n%s", seed, trial, diff(want, got))
			}
		}
	}
}

func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "- %s\n+ %s\n", a, c)
		}
	}
	return b.String()
}
