package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// TestSync_ChannelResets: each reason a position cannot be continued
// resets that channel alone; the others in the same request are served.
// A position with a seq and no event id (what a client sends once its
// live path met another event at its position) is diverged, at the
// log's end or before it.
func TestSync_ChannelResets(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxEventsPerChannel = 3 })
	pos := map[string]protocol.Position{}
	for _, id := range []string{"epoch", "pruned", "ahead", "diverged", "fine", "zero", "noid", "noidmid"} {
		ch := createChannel(t, ts, "alice", id, "bob")
		pos[ch.Channel.CID] = *ch.Position
	}
	// "pruned" gets events past its count bound; "fine" gets one.
	for i := range 5 {
		sendMsg(t, ts, "alice", "team:pruned", fmt.Sprintf("p%d", i), "x")
	}
	sendMsg(t, ts, "alice", "team:fine", "f1", "x")
	sendMsg(t, ts, "alice", "team:noidmid", "n1", "x")
	ts.srv.Prune(context.Background())
	for _, cid := range []string{"team:noid", "team:noidmid"} {
		p := pos[cid]
		p.EventID = ""
		pos[cid] = p
	}

	e := pos["team:epoch"]
	e.Epoch = "another-history"
	pos["team:epoch"] = e
	a := pos["team:ahead"]
	a.Seq += 5
	pos["team:ahead"] = a
	d := pos["team:diverged"]
	d.EventID = "someone-else"
	pos["team:diverged"] = d
	pos["team:zero"] = protocol.Position{}

	res := syncFrom(t, ts, "bob", nil, pos, 0)
	want := map[string]string{
		"team:epoch": protocol.ReasonEpoch, "team:pruned": protocol.ReasonPruned, "team:ahead": protocol.ReasonAhead,
		"team:diverged": protocol.ReasonDiverged, "team:zero": protocol.ReasonNoPosition,
		"team:noid": protocol.ReasonDiverged, "team:noidmid": protocol.ReasonDiverged,
	}
	if !maps.Equal(res.resets, want) {
		t.Errorf("resets = %v, want %v", res.resets, want)
	}
	if len(res.events) != 1 || res.events[0].Message == nil || res.events[0].Message.ID != "f1" {
		t.Fatalf("events = %+v, want the one new message of team:fine", res.events)
	}
	if p := res.positions["team:fine"]; p.Seq != pos["team:fine"].Seq+1 || p.EventID != res.events[0].ID {
		t.Errorf("team:fine position = %+v", p)
	}

	// A position at the pruned mark itself is still good: its event id
	// is kept as the mark's.
	var st server.LogState
	if err := ts.store.View(context.Background(), func(tx server.Tx) error {
		var err error
		st, err = tx.ChannelLog("team:pruned")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if st.PrunedSeq != st.LastSeq-3 || st.PrunedEventID == "" {
		t.Fatalf("pruned log = %+v", st)
	}
	at := protocol.Position{Epoch: st.Epoch, Seq: st.PrunedSeq, EventID: st.PrunedEventID}
	res = syncFrom(t, ts, "bob", nil, map[string]protocol.Position{"team:pruned": at}, 0)
	if len(res.resets) != 0 || len(res.events) != 3 {
		t.Errorf("from the pruned mark: resets %v, %d events, want 3", res.resets, len(res.events))
	}
}

// TestSync_PagingWithMore: a page cut at the limit says More and stops
// inside a channel, at a position the next page continues from.
func TestSync_PagingWithMore(t *testing.T) {
	ts := startServer(t, nil)
	a := createChannel(t, ts, "alice", "a", "bob")
	b := createChannel(t, ts, "alice", "b", "bob")
	for i := range 12 {
		sendMsg(t, ts, "alice", "team:a", fmt.Sprintf("a%d", i), "x")
	}
	sendMsg(t, ts, "alice", "team:b", "b0", "x")
	req := protocol.SyncRequest{Version: protocol.Version, Limit: 5, Channels: []protocol.ChannelPosition{
		{CID: "team:b", Position: *b.Position}, {CID: "team:a", Position: *a.Position}}}
	var resp protocol.SyncResponse
	ts.must(t, "bob", "POST", protocol.PathSync, req, &resp)
	if !resp.More || len(resp.Events) != 5 || len(resp.Channels) != 1 || resp.Channels[0].CID != "team:a" {
		t.Fatalf("first page: more %v, %d events, channels %+v", resp.More, len(resp.Events), resp.Channels)
	}
	if p := resp.Channels[0].Position; p.Seq != a.Position.Seq+5 || p.EventID != resp.Events[4].ID {
		t.Fatalf("first page position = %+v", p)
	}
	res := syncFrom(t, ts, "bob", &resp.Feed.Position, map[string]protocol.Position{
		"team:a": *resp.Channels[0].Position, "team:b": *b.Position}, 5)
	if len(res.events) != 8 || res.pages != 2 {
		t.Fatalf("rest: %d events over %d pages, want 8 over 2", len(res.events), res.pages)
	}
	checkLogOrder(t, append(resp.Events, res.events...))
}

// TestSync_TenThousandChannels: a user in 10,000 channels syncs them all
// in one request, in pages, and a request over the bound is a 400.
func TestSync_TenThousandChannels(t *testing.T) {
	ts := startServer(t, nil)
	const n = 10_000
	err := ts.store.Update(context.Background(), func(tx server.Tx) error {
		for i := range n {
			cid := fmt.Sprintf("team:c%05d", i)
			ch := protocol.Channel{CID: cid, Type: "team", ID: cid[5:], CreatedBy: "bob", CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
			if err := tx.PutChannel(ch); err != nil {
				return err
			}
			if err := tx.PutMember(protocol.Member{CID: cid, UserID: "bob", Role: "owner", CreatedAt: tx.Now()}); err != nil {
				return err
			}
			pos, err := tx.NextPosition(cid, fmt.Sprintf("e%05d", i))
			if err != nil {
				return err
			}
			ch.Version = pos.Seq
			if err := tx.AppendEvent(protocol.Event{ID: fmt.Sprintf("e%05d", i), Type: protocol.EventChannelCreated, CID: cid,
				Seq: pos.Seq, Epoch: pos.Epoch, CreatedAt: tx.Now(), Channel: &ch}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	from := map[string]protocol.Position{}
	err = ts.store.View(context.Background(), func(tx server.Tx) error {
		logs, err := tx.ChannelLogs("bob")
		for _, l := range logs {
			from[l.Key] = protocol.Position{Epoch: l.Epoch}
		}
		return err
	})
	if err != nil || len(from) != n {
		t.Fatalf("%d logs: %v", len(from), err)
	}
	// Pages of the largest size: each page checks every position again.
	const limit = 2000
	res := syncFrom(t, ts, "bob", nil, from, limit)
	if len(res.events) != n || len(res.resets) != 0 || res.pages != n/limit {
		t.Fatalf("%d events over %d pages, %d resets", len(res.events), res.pages, len(res.resets))
	}
	again := syncFrom(t, ts, "bob", &res.feedPos, res.positions, limit)
	if len(again.events) != 0 || again.pages != 1 {
		t.Fatalf("sync from the head: %d events over %d pages", len(again.events), again.pages)
	}

	over := protocol.SyncRequest{Version: protocol.Version}
	for i := range protocol.MaxSyncChannels + 1 {
		over.Channels = append(over.Channels, protocol.ChannelPosition{CID: fmt.Sprintf("team:x%05d", i)})
	}
	if ae := ts.call(t, "bob", "POST", protocol.PathSync, over, nil); ae == nil || ae.StatusCode != 400 {
		t.Fatalf("%d positions: %v, want 400", len(over.Channels), ae)
	}
}

// TestSync_BadInput: malformed positions and versions are 400s with the
// JSON error body, never a 5xx.
func TestSync_BadInput(t *testing.T) {
	ts := startServer(t, nil)
	ch := createChannel(t, ts, "alice", "general")
	good := *ch.Position
	body := func(mod func(r map[string]any)) string {
		r := map[string]any{"version": protocol.Version, "channels": []any{
			map[string]any{"cid": "team:general", "epoch": good.Epoch, "seq": good.Seq, "event_id": good.EventID}}}
		mod(r)
		b, _ := json.Marshal(r)
		return string(b)
	}
	pos := func(p map[string]any) func(r map[string]any) {
		return func(r map[string]any) {
			q := map[string]any{"cid": "team:general", "epoch": good.Epoch, "seq": good.Seq, "event_id": good.EventID}
			maps.Copy(q, p)
			r["channels"] = []any{q}
		}
	}
	for _, c := range []struct {
		name, body string
		code       int
	}{
		{"negative seq", body(pos(map[string]any{"seq": -1})), protocol.CodeInput},
		{"absurd seq", body(pos(map[string]any{"seq": int64(1) << 60})), protocol.CodeInput},
		{"seq not a number", body(pos(map[string]any{"seq": "7"})), protocol.CodeInput},
		{"fractional seq", body(pos(map[string]any{"seq": 1.5})), protocol.CodeInput},
		{"bad epoch chars", body(pos(map[string]any{"epoch": "ab cd"})), protocol.CodeInput},
		{"long epoch", body(pos(map[string]any{"epoch": strings.Repeat("e", 65)})), protocol.CodeInput},
		{"huge event_id", body(pos(map[string]any{"event_id": strings.Repeat("x", 100_000)})), protocol.CodeInput},
		{"event_id quote", body(pos(map[string]any{"event_id": `a"b`})), protocol.CodeInput},
		{"bad cid", body(pos(map[string]any{"cid": "nocolon"})), protocol.CodeInput},
		{"empty cid", body(pos(map[string]any{"cid": ""})), protocol.CodeInput},
		{"duplicate cids", body(func(r map[string]any) {
			r["channels"] = []any{map[string]any{"cid": "team:general"}, map[string]any{"cid": "team:general", "seq": 1}}
		}), protocol.CodeInput},
		{"bad feed", body(func(r map[string]any) { r["feed"] = map[string]any{"epoch": "!", "seq": 1} }), protocol.CodeInput},
		{"negative feed seq", body(func(r map[string]any) { r["feed"] = map[string]any{"seq": -3} }), protocol.CodeInput},
		{"unknown field", body(func(r map[string]any) { r["cursor"] = "x" }), protocol.CodeInput},
		{"negative limit", body(func(r map[string]any) { r["limit"] = -1 }), protocol.CodeInput},
		{"limit over max", body(func(r map[string]any) { r["limit"] = 1 << 20 }), protocol.CodeInput},
		{"channels not a list", body(func(r map[string]any) { r["channels"] = "team:general" }), protocol.CodeInput},
		{"wrong version", body(func(r map[string]any) { r["version"] = 1 }), protocol.CodeProtocolVersion},
		{"missing version", body(func(r map[string]any) { delete(r, "version") }), protocol.CodeProtocolVersion},
		{"future version", body(func(r map[string]any) { r["version"] = 3 }), protocol.CodeProtocolVersion},
		{"v1 request", `{"channel_cids":["team:general"],"last_sync_at":"2026-11-01T00:00:00Z"}`, protocol.CodeInput},
	} {
		status, resp := rawCall(t, ts, "POST", protocol.PathSync, "Bearer "+tokenFor(t, "alice"), c.body)
		var ae protocol.APIError
		if err := json.Unmarshal([]byte(resp), &ae); err != nil || status != 400 || ae.Code != c.code {
			t.Errorf("%s: %d %s, want 400 code %d", c.name, status, resp, c.code)
		}
	}
	// The version header, on any endpoint.
	for _, v := range []string{"1", "3", "two"} {
		status, resp := rawCall(t, ts, "POST", protocol.PathSync, "Bearer "+tokenFor(t, "alice"), body(func(map[string]any) {}),
			protocol.HeaderProtocol, v)
		if status != 400 || !strings.Contains(resp, `"code":62`) {
			t.Errorf("%s: %s: %d %s, want 400 code 62", protocol.HeaderProtocol, v, status, resp)
		}
		status, resp = rawCall(t, ts, "GET", "/channels/team:general", "Bearer "+tokenFor(t, "alice"), "", protocol.HeaderProtocol, v)
		if status != 400 || !strings.Contains(resp, `"code":62`) {
			t.Errorf("GET channel with %s: %s: %d %s, want 400 code 62", protocol.HeaderProtocol, v, status, resp)
		}
	}
	status, resp := rawCall(t, ts, "POST", protocol.PathSync, "Bearer "+tokenFor(t, "alice"), body(func(map[string]any) {}),
		protocol.HeaderProtocol, "2")
	if status != 200 {
		t.Errorf("%s: 2: %d %s", protocol.HeaderProtocol, status, resp)
	}
	// Query by cids: over the bound, or a bad cid.
	var many []string
	for i := range protocol.MaxQueryCIDs + 1 {
		many = append(many, fmt.Sprintf("team:q%d", i))
	}
	for name, cids := range map[string][]string{"too many": many, "bad cid": {"team:general", "bad"}} {
		if ae := ts.call(t, "alice", "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{CIDs: cids}, nil); ae == nil || ae.StatusCode != 400 {
			t.Errorf("query %s: %v, want 400", name, ae)
		}
	}
}

// TestSync_MaxPositionsFitTheBodyLimit: protocol.MaxSyncChannels positions
// of the longest cids, with epochs and event ids as the server makes
// them, are within the sync body limit and answered (here: inaccessible).
func TestSync_MaxPositionsFitTheBodyLimit(t *testing.T) {
	ts := startServer(t, nil)
	req := protocol.SyncRequest{Version: protocol.Version}
	typ := strings.Repeat("t", protocol.MaxIDLength)
	for i := range protocol.MaxSyncChannels {
		id := fmt.Sprintf("%0*d", protocol.MaxIDLength, i)
		req.Channels = append(req.Channels, protocol.ChannelPosition{CID: typ + ":" + id, Position: protocol.Position{
			Epoch: strings.Repeat("e", 32), Seq: 1 << 52, EventID: strings.Repeat("f", 32)}})
	}
	var resp protocol.SyncResponse
	ts.must(t, "bob", "POST", protocol.PathSync, req, &resp)
	if len(resp.Channels) != protocol.MaxSyncChannels || resp.Channels[0].Status != protocol.ChannelInaccessible {
		t.Fatalf("%d channels answered, first %+v", len(resp.Channels), resp.Channels[0])
	}
}

// TestSync_PositionsBehindTheHead: a position between a log's pruned mark
// and its head is checked against the event the log holds at its seq,
// read with the events after it: the right id is continued, another one
// resets that channel alone, in the feed as in channels, across pages.
func TestSync_PositionsBehindTheHead(t *testing.T) {
	ts := startServer(t, nil)
	for _, id := range []string{"a", "b", "c"} {
		createChannel(t, ts, "alice", id, "bob")
		for i := range 4 {
			sendMsg(t, ts, "alice", "team:"+id, fmt.Sprintf("%s%d", id, i), "x")
		}
	}
	at := func(st server.LogState, evs []server.StoredEvent, seq int64) protocol.Position {
		return protocol.Position{Epoch: st.Epoch, Seq: seq, EventID: evs[seq-1].ID}
	}
	from := map[string]protocol.Position{}
	var feed protocol.Position
	heads := map[string]int64{}
	err := ts.store.View(context.Background(), func(tx server.Tx) error {
		for _, cid := range []string{"team:a", "team:b", "team:c"} {
			st, err := tx.ChannelLog(cid)
			if err != nil {
				return err
			}
			evs, err := tx.ChannelEvents(cid, 0, 100)
			if err != nil {
				return err
			}
			from[cid], heads[cid] = at(st, evs, 2), st.LastSeq
		}
		st, err := tx.FeedLog("bob")
		if err != nil {
			return err
		}
		evs, err := tx.FeedEvents("bob", 0, 100)
		if err != nil || st.LastSeq != 3 {
			return fmt.Errorf("bob's feed: %+v, %v", st, err)
		}
		feed = at(st, evs, 1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b := from["team:b"]
	b.EventID = "someone-else"
	from["team:b"] = b

	for _, limit := range []int{0, 1, 3} {
		res := syncFrom(t, ts, "bob", &feed, from, limit)
		if want := map[string]string{"team:b": protocol.ReasonDiverged}; !maps.Equal(res.resets, want) {
			t.Errorf("limit %d: resets = %v, want %v", limit, res.resets, want)
		}
		if res.feedReset || len(res.feed) != 2 || res.feedPos.Seq != 3 || res.feedPos.EventID != res.feed[1].ID {
			t.Errorf("limit %d: feed reset %v, %d events, at %+v", limit, res.feedReset, len(res.feed), res.feedPos)
		}
		if want := int(heads["team:a"] - 2 + heads["team:c"] - 2); len(res.events) != want {
			t.Errorf("limit %d: %d events, want %d", limit, len(res.events), want)
		}
		for _, cid := range []string{"team:a", "team:c"} {
			if p := res.positions[cid]; p.Seq != heads[cid] {
				t.Errorf("limit %d: %s ends at %+v, want seq %d", limit, cid, p, heads[cid])
			}
		}
		checkLogOrder(t, res.events)
	}

	feed.EventID = "not-it"
	if res := syncFrom(t, ts, "bob", &feed, nil, 0); !res.feedReset || res.feedPos.Seq != 3 {
		t.Errorf("feed behind its head with another id: reset %v at %+v", res.feedReset, res.feedPos)
	}
}
