package pgstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
	"github.com/outpostsync/outpost/server/sqlitestore"
)

// sseFrame is one event of a GET /events stream: a control event (Type
// set, Data its JSON) or a log or live event (Event).
type sseFrame struct {
	Type  string
	Data  string
	Event protocol.Event
}

// stream opens user's GET /events on n with query, and returns its
// frames (comments left out) until the test ends.
func (n node) stream(t *testing.T, user, query string) <-chan sseFrame {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+protocol.PathEvents+"?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	frames := make(chan sseFrame, 10000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		var f sseFrame
		for sc.Scan() {
			field, value, _ := strings.Cut(sc.Text(), ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				f.Type = value
			case "data":
				f.Data = value
			case "id", "retry":
			case "":
				if sc.Text() != "" {
					continue // a comment
				}
				if f.Data != "" {
					if f.Type == "" && json.Unmarshal([]byte(f.Data), &f.Event) != nil {
						return
					}
					frames <- f
				}
				f = sseFrame{}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return frames
}

// next returns the next frame of s, failing after 10s.
func next[T any](t *testing.T, s <-chan T, what string) T {
	t.Helper()
	select {
	case v, ok := <-s:
		if !ok {
			t.Fatalf("%s: closed", what)
		}
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing in 10s", what)
	}
	panic("unreachable")
}

func sendText(t *testing.T, n node, user, cid, id string) {
	t.Helper()
	n.must(t, user, "POST", "/channels/"+cid+"/messages",
		protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: id}}, nil)
}

// TestLiveRecipientsAtTheirPlaceInTheLog: every node delivers each
// event live to the channel's members at that event's place in the log,
// not to its members when it learns of the event. Alice writes through
// node A; Mallory is connected to node B (on one node, both are the
// same SQLite server).
//
// WebSocket, 30 rounds: Alice makes a channel, sends a message, deletes
// it for good, then adds Mallory and sends another. The first event of
// the channel Mallory receives is her own member.added; nothing before
// it reaches her.
//
// SSE, 30 rounds: Mallory's stream follows a channel she is in. Alice
// removes her, sends a message, deletes it for good and adds her again.
// Mallory hears her own removal (the stream then drops the channel), and
// nothing of what was sent while she was out.
func TestLiveRecipientsAtTheirPlaceInTheLog(t *testing.T) {
	t.Run("OneNode", func(t *testing.T) {
		n := startSQLiteNode(t)
		testLiveRecipients(t, n, n)
	})
	t.Run("TwoNodes", func(t *testing.T) {
		nodes := startNodes(t, 2)
		testLiveRecipients(t, nodes[0], nodes[1])
	})
}

// startSQLiteNode starts a single node on its own SQLite file.
func startSQLiteNode(t *testing.T) node {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return startNode(t, st)
}

func testLiveRecipients(t *testing.T, a, b node) {
	const rounds = 30
	t.Run("WebSocket", func(t *testing.T) {
		mallory := b.dial(t, "mallory")
		for r := range rounds {
			cid := fmt.Sprintf("team:late%d", r)
			a.must(t, "alice", "POST", protocol.PathChannels, protocol.CreateChannelRequest{Type: "team", ID: fmt.Sprintf("late%d", r)}, nil)
			secret := fmt.Sprintf("secret%d", r)
			sendText(t, a, "alice", cid, secret)
			a.must(t, "alice", "DELETE", "/messages/"+secret+"?hard=true", nil, nil)
			a.must(t, "alice", "POST", "/channels/"+cid+"/members", protocol.AddMembersRequest{UserIDs: []string{"mallory"}}, nil)
			after := fmt.Sprintf("after%d", r)
			sendText(t, a, "alice", cid, after)
			joined := false
			for {
				ev := next(t, mallory, "mallory's WebSocket")
				if ev.CID != cid || strings.HasPrefix(string(ev.Type), "notification.") {
					continue // another round's, or her feed's
				}
				if !joined {
					if ev.Type != protocol.EventMemberAdded || ev.Member == nil || ev.Member.UserID != "mallory" {
						t.Fatalf("round %d: mallory got %s (seq %d) live, from before she joined", r, ev.Type, ev.Seq)
					}
					joined = true
				}
				if ev.Type == protocol.EventMessageNew && ev.Message.ID == after {
					break
				}
			}
		}
	})

	t.Run("SSE", func(t *testing.T) {
		cid, mark := "team:inout", "team:mark"
		a.must(t, "alice", "POST", protocol.PathChannels, protocol.CreateChannelRequest{Type: "team", ID: "inout", Members: []string{"mallory"}}, nil)
		a.must(t, "alice", "POST", protocol.PathChannels, protocol.CreateChannelRequest{Type: "team", ID: "mark", Members: []string{"mallory"}}, nil)
		for r := range rounds {
			s := b.stream(t, "mallory", "cid="+cid+"&cid="+mark)
			for range 2 { // no position given: a reset for each channel
				if f := next(t, s, "mallory's stream"); f.Type != "reset" {
					t.Fatalf("round %d: stream began with %q %s, want a reset", r, f.Type, f.Data)
				}
			}
			a.must(t, "alice", "DELETE", "/channels/"+cid+"/members/mallory", nil, nil)
			secret := fmt.Sprintf("sse-secret%d", r)
			sendText(t, a, "alice", cid, secret)
			a.must(t, "alice", "DELETE", "/messages/"+secret+"?hard=true", nil, nil)
			a.must(t, "alice", "POST", "/channels/"+cid+"/members", protocol.AddMembersRequest{UserIDs: []string{"mallory"}}, nil)
			// Two marks, the second sent once the first arrived: what B
			// delivered of the round is on the stream before the second.
			removed := false
			for i, id := range []string{fmt.Sprintf("mark%da", r), fmt.Sprintf("mark%db", r)} {
				sendText(t, a, "alice", mark, id)
				for {
					f := next(t, s, "mallory's stream")
					ev := f.Event
					if f.Type == "" && ev.CID == mark && ev.Type == protocol.EventMessageNew && ev.Message.ID == id {
						break
					}
					if f.Type == "" && ev.CID == cid && !strings.HasPrefix(string(ev.Type), "notification.") {
						if removed || ev.Type != protocol.EventMemberRemoved || ev.Member.UserID != "mallory" {
							t.Fatalf("round %d, mark %d: mallory got %s (seq %d) live after her removal, or before hearing it", r, i, ev.Type, ev.Seq)
						}
						removed = true
					}
				}
			}
			if !removed {
				t.Fatalf("round %d: mallory did not hear her own removal", r)
			}
		}
	})
}

// TestMemberSpans: a membership's span runs from the seq of the event
// that adds the member to the seq of the one that removes them; a member
// added again gets a new span; a role change (PutMember of a member)
// leaves the span; spans that end at or before the log's cut are pruned
// with it.
func TestMemberSpans(t *testing.T) {
	dsn := pgtest.DSN(t)
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	cid := "team:spans"
	step := func(fn func(tx server.Tx) error) {
		t.Helper()
		err := st.Update(ctx, func(tx server.Tx) error {
			if _, err := tx.Channel(cid); errors.Is(err, server.ErrNotFound) {
				if err := tx.CreateChannel(protocol.Channel{CID: cid, Type: "team", ID: "spans", CreatedAt: tx.Now()}); err != nil {
					return err
				}
			}
			id := fmt.Sprintf("ev-%d", time.Now().UnixNano())
			pos, err := tx.NextPosition(cid, id)
			if err != nil {
				return err
			}
			if err := tx.AppendEvent(protocol.Event{ID: id, Type: protocol.EventMemberAdded, CID: cid, Seq: pos.Seq, Epoch: pos.Epoch,
				CreatedAt: tx.Now()}); err != nil {
				return err
			}
			return fn(tx)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(user, role string) func(tx server.Tx) error {
		return func(tx server.Tx) error {
			return tx.PutMember(protocol.Member{CID: cid, UserID: user, Role: role, CreatedAt: tx.Now()})
		}
	}
	del := func(user string) func(tx server.Tx) error {
		return func(tx server.Tx) error { return tx.DeleteMember(cid, user) }
	}
	step(put("ann", "member"))    // 1
	step(put("ben", "member"))    // 2
	step(del("ann"))              // 3
	step(put("ben", "moderator")) // 4
	step(del("ben"))              // 5
	step(put("ben", "member"))    // 6
	spans := func() string {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT user_id || ':' || from_seq || '-' || coalesce(to_seq::text, '')
FROM member_spans WHERE cid = $1 ORDER BY user_id, from_seq`, cid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, " ")
	}
	if got, want := spans(), "ann:1-3 ben:2-5 ben:6-"; got != want {
		t.Fatalf("spans %q, want %q", got, want)
	}
	if _, err := st.Prune(ctx, time.Now().Add(-time.Hour), 3); err != nil { // by count: keeps 4..6
		t.Fatal(err)
	}
	if got, want := spans(), "ben:2-5 ben:6-"; got != want {
		t.Fatalf("after a cut at seq 3: spans %q, want %q", got, want)
	}
}
