package webtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/sse"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/token"
)

// TestEvents_ReplayThenLive: a first connect gets a reset with the
// channel's position, then live events; a reconnect with Last-Event-ID
// replays exactly what it missed, in order, then goes on live.
func TestEvents_ReplayThenLive(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob")
	for i := range 3 {
		sendMsg(t, ts, "alice", cid, fmt.Sprintf("old%d", i), msgText(i))
	}

	c := openStream(t, ts, "cid="+cid, auth(t, "bob")...)
	reset := c.nextControl(t, "reset")
	if reset.CID != cid || reset.Reason != "no_position" || reset.Position == nil || reset.Position.Seq < 3 {
		t.Fatalf("first reset = %+v %+v, want %s no_position at the log's end", reset, reset.Position, cid)
	}
	base := reset.Position.Seq
	if c.retry == "" {
		t.Error("no retry: field")
	}
	sendMsg(t, ts, "alice", cid, "live0", "live")
	if ev := c.nextMessage(t); ev.Message == nil || ev.Message.ID != "live0" || ev.Seq != base+1 {
		t.Fatalf("live event = %+v", ev)
	}
	last := c.lastID
	if want := at(cid, reset.Position.Epoch, base+1); last != want {
		t.Fatalf("id = %q, want %q", last, want)
	}
	c.Close()

	for i := range 10 {
		sendMsg(t, ts, "alice", cid, fmt.Sprintf("gap%d", i), msgText(i))
	}
	c = openStream(t, ts, "", append(auth(t, "bob"), "Last-Event-ID", last)...)
	for i := range 10 {
		ev := c.nextMessage(t)
		if ev.Message == nil || ev.Message.ID != fmt.Sprintf("gap%d", i) || ev.Seq != base+2+int64(i) {
			t.Fatalf("replayed event %d = %s %d %v", i, ev.Type, ev.Seq, ev.Message)
		}
	}
	sendMsg(t, ts, "alice", cid, "live1", "after replay")
	if ev := c.nextMessage(t); ev.Message == nil || ev.Message.ID != "live1" {
		t.Fatalf("live after replay = %+v", ev)
	}
}

// TestEvents_FirstConnectByQuery: last_event_id in the query resumes a
// first connect (EventSource cannot set the header).
func TestEvents_FirstConnectByQuery(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general")
	sendMsg(t, ts, "alice", cid, "a", "x")
	sendMsg(t, ts, "alice", cid, "b", "y")
	end := logEnd(t, ts, "alice", cid)
	c := openStream(t, ts, "last_event_id="+url.QueryEscape(at(cid, end.Epoch, end.Seq-1))+"&access_token="+tokenFor(t, "alice"))
	if ev := c.nextMessage(t); ev.Message == nil || ev.Message.ID != "b" {
		t.Fatalf("got %+v, want message b", ev)
	}
}

// TestEvents_Resets: positions the log cannot continue get a reset with
// the reason, never a silent replay of nothing.
func TestEvents_Resets(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxEventsPerChannel = 5 })
	cid := createChannel(t, ts, "alice", "general")
	for i := range 10 {
		sendMsg(t, ts, "alice", cid, fmt.Sprintf("m%d", i), msgText(i))
	}
	end := logEnd(t, ts, "alice", cid)
	if n := ts.srv.Prune(t.Context()); n == 0 {
		t.Fatal("nothing pruned")
	}
	// end.Seq-5 events are gone (MaxEventsPerChannel).
	pruned := end.Seq - 5
	for _, tt := range []struct{ id, reason string }{
		{at(cid, end.Epoch, pruned-1), "pruned"},
		{at(cid, "another-epoch", end.Seq-1), "epoch"},
		{at(cid, end.Epoch, end.Seq+1), "ahead"},
	} {
		t.Run(tt.reason, func(t *testing.T) {
			c := openStream(t, ts, "cid="+cid, append(auth(t, "alice"), "Last-Event-ID", tt.id)...)
			r := c.nextControl(t, "reset")
			if r.Reason != tt.reason || r.Position == nil || *r.Position != end {
				t.Fatalf("reset = %+v, want %s at %+v", r, tt.reason, end)
			}
			if want := at(cid, end.Epoch, end.Seq); c.lastID != want {
				t.Errorf("reset id = %q, want %q", c.lastID, want)
			}
		})
	}
	// At the edge of the retained history: a replay, no reset.
	c := openStream(t, ts, "", append(auth(t, "alice"), "Last-Event-ID", at(cid, end.Epoch, pruned))...)
	for seq := pruned + 1; seq <= end.Seq; seq++ {
		if ev := c.nextMessage(t); ev.Seq != seq {
			t.Fatalf("seq %d, want %d", ev.Seq, seq)
		}
	}
}

// TestEvents_Channels: a stream follows the channels it names; one the
// user may not read gets an inaccessible event; a foreign position is
// ignored; removal from a channel drops it from the stream.
func TestEvents_Channels(t *testing.T) {
	ts := startServer(t, nil)
	a := createChannel(t, ts, "alice", "a", "bob")
	b := createChannel(t, ts, "alice", "b", "bob")
	secret := createChannel(t, ts, "alice", "secret")
	endA, endB := logEnd(t, ts, "bob", a), logEnd(t, ts, "bob", b)
	two := func(seqA, seqB int64) string {
		return sse.Cursor{{CID: a, Epoch: endA.Epoch, Seq: seqA}, {CID: b, Epoch: endB.Epoch, Seq: seqB}}.String()
	}
	id := two(endA.Seq, endB.Seq) + ",messaging:elsewhere/e/9"
	c := openStream(t, ts, "cid="+a+"&cid="+b+"&cid="+secret, append(auth(t, "bob"), "Last-Event-ID", id)...)
	if r := c.nextControl(t, "inaccessible"); r.CID != secret {
		t.Fatalf("inaccessible %+v", r)
	}
	sendMsg(t, ts, "alice", b, "in-b", "x")
	sendMsg(t, ts, "alice", secret, "in-secret", "x")
	sendMsg(t, ts, "alice", a, "in-a", "x")
	if ev := c.nextMessage(t); ev.Message.ID != "in-b" {
		t.Fatalf("got %s", ev.Message.ID)
	}
	if ev := c.nextMessage(t); ev.Message.ID != "in-a" {
		t.Fatalf("got %s", ev.Message.ID)
	}
	if want := two(endA.Seq+1, endB.Seq+1); c.lastID != want {
		t.Fatalf("id = %q, want %q", c.lastID, want)
	}
	ts.must(t, "alice", "DELETE", "/channels/"+a+"/members/bob", nil, nil)
	if ev := c.nextMessage(t); ev.Type != protocol.EventMemberRemoved {
		t.Fatalf("got %s, want member.removed", ev.Type)
	}
	if r := c.nextControl(t, "inaccessible"); r.CID != a {
		t.Fatalf("inaccessible %+v", r)
	}
	if want := at(b, endB.Epoch, endB.Seq+1); c.lastID != want {
		t.Fatalf("id after removal = %q, want %q", c.lastID, want)
	}
}

// TestEvents_AllChannels: with no cid and no position the stream follows
// the user's channels.
func TestEvents_AllChannels(t *testing.T) {
	ts := startServer(t, nil)
	a := createChannel(t, ts, "alice", "a")
	b := createChannel(t, ts, "alice", "b")
	c := openStream(t, ts, "", auth(t, "alice")...)
	got := map[string]bool{}
	for range 2 {
		got[c.nextControl(t, "reset").CID] = true
	}
	if !got[a] || !got[b] {
		t.Fatalf("resets for %v, want %s and %s", got, a, b)
	}
}

// TestEvents_Ephemeral: typing goes out live, without an id.
func TestEvents_Ephemeral(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob")
	c := openStream(t, ts, "cid="+cid, auth(t, "bob")...)
	c.nextControl(t, "reset")
	before := c.lastID
	ts.must(t, "alice", "POST", "/channels/"+cid+"/events", map[string]any{"type": "typing.start"}, nil)
	ev := c.next(t)
	if ev.HasID || !strings.Contains(ev.Data, `"typing.start"`) {
		t.Fatalf("typing event %+v: want one without id", ev)
	}
	if c.lastID != before {
		t.Fatal("typing moved the position")
	}
}

// TestEvents_HeartbeatAndExpiry: comments keep the stream alive; it ends
// when the token expires.
func TestEvents_HeartbeatAndExpiry(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.StreamHeartbeat = 20 * time.Millisecond })
	cid := createChannel(t, ts, "alice", "general")
	now := time.Now().Truncate(time.Second) // tokens count in seconds
	tok, err := token.IssueAt(secret, "alice", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	// The server's clock stands just before the expiry.
	ts.clock.Set(now.Add(time.Minute - 300*time.Millisecond))
	c := openStream(t, ts, "cid="+cid, "Authorization", "Bearer "+tok)
	c.nextControl(t, "reset")
	sawPing := false
	for {
		ev, ok := <-c.events
		if !ok {
			t.Fatal("stream ended without an expired event")
		}
		if ev.Type == "comment" {
			sawPing = true
			continue
		}
		if ev.Type != "expired" {
			t.Fatalf("got %+v", ev)
		}
		break
	}
	if !sawPing {
		t.Error("no heartbeat before expiry")
	}
	if _, ok := <-c.events; ok {
		t.Error("stream still open after expired")
	}
}

// TestEvents_BadInput: malformed positions and parameters are 4xx JSON
// errors, never a 5xx or a hang.
func TestEvents_BadInput(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general")
	tok := tokenFor(t, "alice")
	for _, tt := range []struct {
		name, query string
		headers     []string
		status      int
	}{
		{"no token", "cid=" + cid, nil, 401},
		{"bad token", "cid=" + cid, []string{"Authorization", "Bearer nope"}, 401},
		{"garbage id", "cid=" + cid, []string{"Authorization", "Bearer " + tok, "Last-Event-ID", "garbage"}, 400},
		{"negative seq", "cid=" + cid, []string{"Authorization", "Bearer " + tok, "Last-Event-ID", cid + "//-1"}, 400},
		{"huge seq", "", []string{"Authorization", "Bearer " + tok, "Last-Event-ID", cid + "//99999999999999999999"}, 400},
		{"bad cid in id", "", []string{"Authorization", "Bearer " + tok, "Last-Event-ID", "nocolon//1"}, 400},
		{"long id", "", []string{"Authorization", "Bearer " + tok, "Last-Event-ID", strings.Repeat(cid+"//1,", 2000)}, 400},
		{"bad cid", "cid=%00", []string{"Authorization", "Bearer " + tok}, 400},
		{"too many cids", strings.Repeat("cid=a:b&", 40), []string{"Authorization", "Bearer " + tok}, 400},
		{"unknown param", "cid=" + cid + "&since=1", []string{"Authorization", "Bearer " + tok}, 400},
		{"bad query id", "last_event_id=%ff%fe", []string{"Authorization", "Bearer " + tok}, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, body := tryStream(t, ts, tt.query, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			var ae protocol.APIError
			if err := json.Unmarshal(body, &ae); err != nil || ae.StatusCode != tt.status {
				t.Fatalf("body is not an API error: %s", body)
			}
		})
	}
}

// TestEvents_CookieAuth: POST /session sets an HttpOnly SameSite cookie
// that GET /events takes, from the server's own origin only; REST does
// not take it.
func TestEvents_CookieAuth(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general")
	resp, body := ts.do(t, "POST", protocol.PathSession, nil, auth(t, "alice")...)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /session: %d %s", resp.StatusCode, body)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "outpost_session" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict", ck)
	}
	cookie := ck.Name + "=" + ck.Value
	c := openStream(t, ts, "cid="+cid, "Cookie", cookie, "Sec-Fetch-Site", "same-origin")
	c.nextControl(t, "reset")
	c.Close()
	c = openStream(t, ts, "cid="+cid, "Cookie", cookie, "Sec-Fetch-Site", "none") // the URL opened by hand
	c.nextControl(t, "reset")
	c.Close()
	if _, resp, _ := tryStream(t, ts, "cid="+cid, "Cookie", cookie, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != 403 {
		t.Errorf("cross-site cookie: %d, want 403", resp.StatusCode)
	}
	if _, resp, _ := tryStream(t, ts, "cid="+cid, "Cookie", cookie, "Origin", "https://evil.example"); resp.StatusCode != 403 {
		t.Errorf("foreign origin with cookie: %d, want 403", resp.StatusCode)
	}
	if resp, _ := ts.do(t, "GET", "/channels/"+cid, nil, "Cookie", cookie); resp.StatusCode != 401 {
		t.Errorf("REST with only the cookie: %d, want 401", resp.StatusCode)
	}
}

// TestEvents_SlowReaderCutOff: a client that stops reading is cut off
// with a bound, and the connection is cleaned up.
func TestEvents_SlowReaderCutOff(t *testing.T) {
	ts := startServer(t, func(c *server.Config) {
		c.SendBuffer = 4
		c.StreamWriteTimeout = 200 * time.Millisecond
	})
	cid := createChannel(t, ts, "alice", "general", "bob")
	req, _ := http.NewRequest("GET", ts.URL+protocol.PathEvents+"?cid="+cid, nil)
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, "bob"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // never read
	waitFor(t, 5*time.Second, "the stream to open", func() bool { return metric(t, ts, "outpost_sse_connections") == 1 })
	big := strings.Repeat("x", 60<<10)
	for i := 0; metric(t, ts, "outpost_sse_connections") != 0; i++ {
		if i > 2000 {
			t.Fatal("the slow stream was never cut off")
		}
		sendMsg(t, ts, "alice", cid, fmt.Sprintf("big%d", i), big)
	}
	if got := metric(t, ts, `outpost_fanout_cutoffs_total{transport="sse"}`) + metric(t, ts, "outpost_fanout_drops_total"); got == 0 {
		t.Log("cut off by the write timeout rather than the buffer")
	}
}

// logEnd returns the position of cid's last event, as a stream's first
// reset tells it.
func logEnd(tb testing.TB, ts *testServer, user, cid string) protocol.Position {
	tb.Helper()
	c := openStream(tb, ts, "cid="+cid, auth(tb, user)...)
	defer c.Close()
	return *c.nextControl(tb, "reset").Position
}

// lastSeq returns the seq of cid's last event.
func lastSeq(tb testing.TB, ts *testServer, user, cid string) int64 {
	tb.Helper()
	return logEnd(tb, ts, user, cid).Seq
}

// at returns the event id of a one-channel stream at seq of cid's log of
// the given epoch.
func at(cid, epoch string, seq int64) string {
	return sse.Cursor{{CID: cid, Epoch: epoch, Seq: seq}}.String()
}

// TestEvents_ServerCloseEndsStreams: Close ends every stream and waits
// for it.
func TestEvents_ServerCloseEndsStreams(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general")
	c := openStream(t, ts, "cid="+cid, auth(t, "alice")...)
	c.nextControl(t, "reset")
	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for ev := range c.events {
		if ev.Type != "comment" {
			t.Fatalf("got %+v after Close", ev)
		}
	}
}

func TestConfig_AllowedOrigins(t *testing.T) {
	for _, o := range []string{"app.example.com", "ftp://x", "https://", "https://a.example/path", "https://a.example?x=1"} {
		_, err := server.New(server.Config{Store: startServer(t, nil).store, Secret: secret, AllowedOrigins: []string{o}})
		if err == nil {
			t.Errorf("AllowedOrigins %q accepted", o)
		}
	}
}

// TestEvents_ChannelJoinedLater: a stream of the user's channels (no cid
// named) takes in a channel the user joins while it is open, and one the
// user is added to again after a removal: the notification, a reset to
// start the channel from, then its live events. A stream of named
// channels keeps to them.
func TestEvents_ChannelJoinedLater(t *testing.T) {
	ts := startServer(t, nil)
	createChannel(t, ts, "bob", "own")
	all := openStream(t, ts, "", auth(t, "bob")...)
	all.nextControl(t, "reset")
	named := openStream(t, ts, "cid=messaging:own", auth(t, "bob")...)
	named.nextControl(t, "reset")

	later := createChannel(t, ts, "alice", "later", "bob")
	joined := func(what string) {
		t.Helper()
		if ev := all.nextMessage(t); ev.Type != protocol.EventNotificationAddedToChannel || ev.CID != later {
			t.Fatalf("%s: got %s of %s, want notification.added_to_channel of %s", what, ev.Type, ev.CID, later)
		}
		if r := all.nextControl(t, "reset"); r.CID != later || r.Position == nil {
			t.Fatalf("%s: reset %+v, want one of %s with its position", what, r, later)
		}
		id := "live-" + strings.ReplaceAll(what, " ", "-")
		sendMsg(t, ts, "alice", later, id, "x")
		if ev := all.nextMessage(t); ev.Type != protocol.EventMessageNew || ev.Message.ID != id {
			t.Fatalf("%s: got %s, want the message %s", what, ev.Type, id)
		}
		if !strings.Contains(all.lastID, later+"/") {
			t.Fatalf("%s: the stream's position %q does not hold %s", what, all.lastID, later)
		}
	}
	joined("joined")

	ts.must(t, "alice", "DELETE", "/channels/"+later+"/members/bob", nil, nil)
	if ev := all.nextMessage(t); ev.Type != protocol.EventMemberRemoved {
		t.Fatalf("got %s, want member.removed", ev.Type)
	}
	if r := all.nextControl(t, "inaccessible"); r.CID != later {
		t.Fatalf("inaccessible %+v", r)
	}
	ts.must(t, "alice", "POST", "/channels/"+later+"/members", protocol.AddMembersRequest{UserIDs: []string{"bob"}}, nil)
	joined("added again")

	sendMsg(t, ts, "bob", "messaging:own", "in-own", "x")
	if ev := named.nextMessage(t); ev.Message == nil || ev.Message.ID != "in-own" {
		t.Fatalf("the stream of named channels got %s of %s, want only its channel's message", ev.Type, ev.CID)
	}
}
