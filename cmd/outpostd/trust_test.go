package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/token"
)

const trustSecret = "trust-test-secret"

func trustToken(t testing.TB, user string) string {
	t.Helper()
	s, err := token.Issue([]byte(trustSecret), user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// channelLog reads cid's log straight from the database.
func channelLog(t testing.TB, dsn, cid string) []protocol.Event {
	t.Helper()
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []protocol.Event
	if err := st.View(context.Background(), func(tx server.Tx) error {
		evs, err := tx.ChannelEvents(cid, 0, 100000)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, e := range evs {
			ev, err := protocol.DecodeEvent(e.Payload)
			if err != nil {
				return err
			}
			out = append(out, *ev)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNodes_OneOwnerPerChannel: alice and bob create one channel id at
// the same moment, through two outpostd processes on one Postgres. In
// every round one of them creates it: the channel has one owner and one
// channel.created event. In even rounds bob's request adds alice, in odd
// rounds nobody else is asked for: the loser gets the channel (200) only
// when the winner made them a member, and a 403 naming the channel
// otherwise.
func TestNodes_OneOwnerPerChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds outpostd and runs two processes")
	}
	nodes, dsn := startProcNodes(t, 2, trustSecret)
	users := []string{"alice", "bob"}
	for r := range 40 {
		id := fmt.Sprintf("race%d", r)
		cid := "team:" + id
		reqs := []protocol.CreateChannelRequest{{Type: "team", ID: id}, {Type: "team", ID: id}}
		if r%2 == 0 {
			reqs[1].Members = []string{"alice"}
		}
		replies := make([]reply, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				replies[i] = do(t, "POST", nodes[i].url()+protocol.PathChannels, trustToken(t, users[i]), reqs[i])
			}()
		}
		close(start)
		wg.Wait()

		evs := channelLog(t, dsn, cid)
		created, owners := 0, map[string]bool{}
		members := map[string]bool{}
		for _, ev := range evs {
			switch ev.Type {
			case protocol.EventChannelCreated:
				created++
			case protocol.EventMemberAdded:
				members[ev.Member.UserID] = true
				if ev.Member.Role == protocol.RoleOwner {
					owners[ev.Member.UserID] = true
				}
			}
		}
		if created != 1 || len(owners) != 1 || len(evs) == 0 || evs[0].Type != protocol.EventChannelCreated {
			t.Fatalf("round %d: %d channel.created events, owners %v; want 1 and one owner", r, created, owners)
		}
		winner := evs[0].Channel.CreatedBy
		w, l := 0, 1
		if winner == "bob" {
			w, l = 1, 0
		}
		if !owners[winner] {
			t.Fatalf("round %d: the owner is not %s, who created the channel", r, winner)
		}
		if replies[w].status != http.StatusOK {
			t.Fatalf("round %d: the winner %s got %d %v", r, winner, replies[w].status, replies[w].body)
		}
		added := len(reqs[w].Members) > 0
		if members[users[l]] != added {
			t.Fatalf("round %d: %s a member: %v, want %v (the winner %s asked for %v)", r, users[l], members[users[l]], added, winner, reqs[w].Members)
		}
		lost := replies[l]
		switch {
		case added && lost.status != http.StatusOK:
			t.Fatalf("round %d: the loser %s, added by the winner, got %d %v, want the channel", r, users[l], lost.status, lost.body)
		case !added && lost.status != http.StatusForbidden:
			t.Fatalf("round %d: the loser %s, not a member, got %d %v, want 403", r, users[l], lost.status, lost.body)
		case !added && !containsCID(lost.body, cid):
			t.Fatalf("round %d: the refusal %v does not name %s", r, lost.body, cid)
		}
		if lost.status == http.StatusOK {
			ch, _ := lost.body["channel"].(map[string]any)
			if ch["created_by"] != winner {
				t.Fatalf("round %d: the loser got a channel created by %v, want %s", r, ch["created_by"], winner)
			}
		}
	}
}

func containsCID(body map[string]any, cid string) bool {
	msg, _ := body["message"].(string)
	return strings.Contains(msg, cid)
}
