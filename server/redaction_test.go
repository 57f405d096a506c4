package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server/pgstore"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
)

// secretMark is in the text of every message the story removes: no
// answer after the removal may contain it.
const secretMark = "SECRET"

// eachStore runs test against a server on each store: SQLite, and
// Postgres when there is one (see pgtest).
func eachStore(t *testing.T, test func(t *testing.T, ts *testServer)) {
	t.Run("SQLite", func(t *testing.T) { test(t, startServer(t, nil)) })
	t.Run("Postgres", func(t *testing.T) {
		clk := &apitest.Clock{}
		st, err := pgstore.Open(context.Background(), pgtest.DSN(t), pgstore.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		test(t, startServerOn(t, st, clk, nil))
	})
}

// removalStory builds a channel in which alice hard-deletes one message
// and then truncates the channel, with edits, reactions and
// idempotency keys around both, and adds carol after it all. It returns
// the channel's cid.
func removalStory(t *testing.T, ts *testServer) string {
	t.Helper()
	cid := createChannel(t, ts, "alice", "redact", "bob").Channel.CID
	key := func(k string) []string { return []string{protocol.HeaderIdempotencyKey, k} }

	sendMsg(t, ts, "alice", cid, "m-hard", secretMark+"-hard")
	ts.must(t, "bob", "POST", "/messages/m-hard/reactions", protocol.SendReactionRequest{Type: "like"}, nil, key("k-react-hard")...)
	ts.must(t, "alice", "PUT", "/messages/m-hard", protocol.UpdateMessageRequest{Text: secretMark + "-hard-edited"}, nil, key("k-edit-hard")...)
	ts.must(t, "alice", "DELETE", "/messages/m-hard?hard=false", nil, nil, key("k-soft-hard")...)
	ts.must(t, "alice", "POST", "/messages/m-hard/undelete", nil, nil, key("k-undelete-hard")...)
	ts.must(t, "alice", "DELETE", "/messages/m-hard?hard=true", nil, nil, key("k-delete-hard")...)

	sendMsg(t, ts, "alice", cid, "m-trunc", secretMark+"-truncated")
	ts.must(t, "bob", "POST", "/messages/m-trunc/reactions", protocol.SendReactionRequest{Type: "like"}, nil, key("k-react-trunc")...)
	ts.must(t, "alice", "PUT", "/messages/m-trunc", protocol.UpdateMessageRequest{Text: secretMark + "-truncated-edited"}, nil, key("k-edit-trunc")...)
	// A channel update's answer is the channel's state, messages and all.
	ts.must(t, "alice", "PUT", "/channels/"+cid, protocol.UpdateChannelRequest{Name: "before the truncate"}, nil, key("k-rename")...)
	ts.must(t, "bob", "POST", "/channels/"+cid+"/read", protocol.MarkReadRequest{MessageID: "m-trunc"}, nil, key("k-read")...)
	ts.must(t, "alice", "POST", "/channels/"+cid+"/truncate", nil, nil, key("k-truncate")...)

	sendMsg(t, ts, "alice", cid, "m-after", "kept after the truncate")
	ts.must(t, "alice", "POST", "/channels/"+cid+"/members", protocol.AddMembersRequest{UserIDs: []string{"carol"}}, nil)
	return cid
}

// noSecret fails t if what holds the removed content.
func noSecret(t *testing.T, where string, what any) {
	t.Helper()
	data, ok := what.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(what); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(string(data), secretMark) {
		t.Errorf("%s holds removed content: %s", where, data)
	}
}

// TestRedaction_LateJoinerReadsNothingRemoved: after a hard delete and a
// truncate, carol (added after both) reads no removed content by any
// path, from any position, and neither does anyone repeating an old
// idempotency key.
func TestRedaction_LateJoinerReadsNothingRemoved(t *testing.T) {
	eachStore(t, testLateJoinerReadsNothingRemoved)
}

func testLateJoinerReadsNothingRemoved(t *testing.T, ts *testServer) {
	cid := removalStory(t, ts)
	epoch := epochOf(t, ts, "carol", cid)

	t.Run("SyncFromZero", func(t *testing.T) {
		for _, user := range []string{"carol", "bob"} {
			res := syncFrom(t, ts, user, nil, map[string]protocol.Position{cid: {Epoch: epoch}}, 3)
			if len(res.resets) > 0 {
				t.Fatalf("%s: resets %v", user, res.resets)
			}
			for i, ev := range res.events {
				if ev.Seq != int64(i+1) {
					t.Fatalf("%s: event %d has seq %d: the log keeps every seq", user, i, ev.Seq)
				}
			}
			noSecret(t, user+"'s sync from seq 0", res.events)
			checkRedacted(t, res.events)
		}
	})

	t.Run("SSEReplayFromZero", func(t *testing.T) {
		data := sseReplay(t, ts, "carol", cid, epoch)
		if !strings.Contains(string(data), "kept after the truncate") {
			t.Fatalf("the replay did not reach the log's end: %s", data)
		}
		noSecret(t, "carol's SSE replay from seq 0", data)
	})

	t.Run("State", func(t *testing.T) {
		var st protocol.ChannelResponse
		ts.must(t, "carol", "GET", "/channels/"+cid, nil, &st)
		noSecret(t, "the channel state", st)
		var q protocol.QueryChannelsResponse
		ts.must(t, "carol", "POST", "/channels/query", protocol.QueryChannelsRequest{CIDs: []string{cid}}, &q)
		noSecret(t, "the channels query", q)
		if len(st.Messages) != 1 || st.Messages[0].ID != "m-after" {
			t.Errorf("state messages = %+v, want only m-after", st.Messages)
		}
	})

	t.Run("Messages", func(t *testing.T) {
		var ms protocol.MessagesResponse
		ts.must(t, "carol", "GET", "/channels/"+cid+"/messages?limit=200", nil, &ms)
		noSecret(t, "the message query", ms)
	})

	t.Run("RepeatedIdempotencyKeys", func(t *testing.T) {
		for _, r := range []struct {
			user, method, path, key string
			body                    any
		}{
			{"bob", "POST", "/messages/m-hard/reactions", "k-react-hard", protocol.SendReactionRequest{Type: "like"}},
			{"alice", "PUT", "/messages/m-hard", "k-edit-hard", protocol.UpdateMessageRequest{Text: "again"}},
			{"alice", "DELETE", "/messages/m-hard?hard=false", "k-soft-hard", nil},
			{"alice", "POST", "/messages/m-hard/undelete", "k-undelete-hard", nil},
			{"alice", "DELETE", "/messages/m-hard?hard=true", "k-delete-hard", nil},
			{"bob", "POST", "/messages/m-trunc/reactions", "k-react-trunc", protocol.SendReactionRequest{Type: "like"}},
			{"alice", "PUT", "/messages/m-trunc", "k-edit-trunc", protocol.UpdateMessageRequest{Text: "again"}},
			{"alice", "PUT", "/channels/" + cid, "k-rename", protocol.UpdateChannelRequest{Name: "before the truncate"}},
			{"bob", "POST", "/channels/" + cid + "/read", "k-read", protocol.MarkReadRequest{MessageID: "m-trunc"}},
		} {
			var out json.RawMessage
			if ae := ts.call(t, r.user, r.method, r.path, r.body, &out, protocol.HeaderIdempotencyKey, r.key); ae != nil {
				t.Errorf("repeat of %s: %v", r.key, ae)
				continue
			}
			noSecret(t, "the repeated answer of "+r.key, []byte(out))
		}
	})
}

// checkRedacted checks the marks of a channel's log after the story: the
// events of the removed messages are redacted (the hard delete itself
// carries no content), and the truncate left every other kind of event
// as it was.
func checkRedacted(t *testing.T, evs []protocol.Event) {
	t.Helper()
	for _, ev := range evs {
		removed := ev.Message != nil && (ev.Message.ID == "m-hard" || ev.Message.ID == "m-trunc")
		hardDelete := ev.Type == protocol.EventMessageDeleted && ev.HardDelete
		switch {
		case hardDelete:
			if ev.Redacted {
				t.Errorf("the hard delete (seq %d) is marked redacted; it is the removal", ev.Seq)
			}
			if m := ev.Message; m == nil || m.ID != "m-hard" || m.Text != "" || m.UserID != "" || len(m.Extra) > 0 {
				t.Errorf("the hard delete carries %+v, want the message's id alone", ev.Message)
			}
		case removed:
			if !ev.Redacted {
				t.Errorf("%s of %s (seq %d) is not marked redacted", ev.Type, ev.Message.ID, ev.Seq)
			}
			if ev.Reaction != nil {
				t.Errorf("redacted %s (seq %d) still carries its reaction", ev.Type, ev.Seq)
			}
		default:
			if ev.Redacted {
				t.Errorf("%s (seq %d) is redacted; a truncate redacts messages only", ev.Type, ev.Seq)
			}
		}
		switch ev.Type {
		case protocol.EventMemberAdded:
			if ev.Member == nil || ev.Member.UserID == "" {
				t.Errorf("member.added (seq %d) lost its member", ev.Seq)
			}
		case protocol.EventChannelUpdated:
			if ev.Channel == nil || ev.Channel.Name != "before the truncate" {
				t.Errorf("channel.updated (seq %d) lost its channel: %+v", ev.Seq, ev.Channel)
			}
		case protocol.EventChannelTruncated:
			if ev.Channel == nil || ev.Channel.TruncatedSeq != ev.Seq {
				t.Errorf("channel.truncated (seq %d) carries truncated_seq %+v, want its own seq", ev.Seq, ev.Channel)
			}
		}
	}
}

// sseReplay replays cid over GET /events as user from seq 0 of epoch,
// up to the log's end, and returns the stream's bytes.
func sseReplay(t *testing.T, ts *testServer, user, cid, epoch string) []byte {
	t.Helper()
	var st protocol.ChannelResponse
	ts.must(t, user, "GET", "/channels/"+cid, nil, &st)
	last := st.Position.Seq
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/events?cid="+cid, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, user))
	req.Header.Set("Last-Event-ID", cid+"/"+epoch+"/0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %s", resp.Status)
	}
	var out []byte
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		out = append(append(out, line...), '\n')
		if strings.HasPrefix(line, "event: reset") {
			t.Fatalf("the replay from seq 0 was reset: %s", out)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev protocol.Event
			if json.Unmarshal([]byte(data), &ev) == nil && ev.Seq == last {
				return out
			}
		}
	}
	t.Fatalf("the stream ended before seq %d: %v: %s", last, sc.Err(), out)
	return nil
}

// TestRedaction_RemovedIDNeverSentAgain: a message id removed by a hard
// delete or a truncate never comes back. A repeat of its author's send
// (an answer lost before the removal) is answered as applied, with the
// message as removed, in the retention window; any other send of it is
// refused, and so is every send once retention has pruned every log and
// idempotency key of the time.
func TestRedaction_RemovedIDNeverSentAgain(t *testing.T) {
	eachStore(t, testRemovedIDNeverSentAgain)
}

func testRemovedIDNeverSentAgain(t *testing.T, ts *testServer) {
	cid := removalStory(t, ts)
	other := createChannel(t, ts, "alice", "other", "bob").Channel.CID
	send := func(user, cid, id string) (protocol.MessageResponse, *protocol.APIError) {
		var resp protocol.MessageResponse
		ae := ts.call(t, user, "POST", "/channels/"+cid+"/messages",
			protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: "back again"}}, &resp)
		return resp, ae
	}
	for _, id := range []string{"m-hard", "m-trunc"} {
		resp, ae := send("alice", cid, id)
		if m := resp.Message; ae != nil || m.ID != id || !m.Redacted || m.Text != "" || m.UserID != "" {
			t.Errorf("repeat of alice's send of %s: %+v, %v; want success with the message as removed", id, m, ae)
		}
		for _, c := range []struct{ user, cid string }{{"bob", cid}, {"alice", other}} {
			if _, ae := send(c.user, c.cid, id); ae == nil || ae.StatusCode != 404 {
				t.Errorf("send of the removed %s by %s in %s: %v, want a 404", id, c.user, c.cid, ae)
			}
		}
	}
	if _, err := ts.store.Prune(context.Background(), time.Now().Add(24*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"m-hard", "m-trunc"} {
		ae := ts.call(t, "alice", "POST", "/channels/"+cid+"/messages",
			protocol.SendMessageRequest{Message: protocol.MessageInput{ID: id, Text: "back again"}}, nil)
		if ae == nil || ae.StatusCode < 400 || ae.StatusCode >= 500 {
			t.Errorf("send of the removed id %s after the prune: %v, want a 4xx", id, ae)
		}
	}
	var ms protocol.MessagesResponse
	ts.must(t, "alice", "GET", "/channels/"+cid+"/messages", nil, &ms)
	if len(ms.Messages) != 1 || ms.Messages[0].ID != "m-after" {
		t.Errorf("messages = %+v, want only m-after", ms.Messages)
	}
}
