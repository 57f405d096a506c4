package server_test

import (
	"fmt"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

func historyPage(tb testing.TB, ts *testServer, user, cid, query string) (protocol.HistoryPage, *protocol.APIError) {
	tb.Helper()
	var page protocol.HistoryPage
	err := ts.call(tb, user, "GET", "/channels/"+cid+"/history"+query, nil, &page)
	return page, err
}

func pageIDs(p protocol.HistoryPage) []string {
	ids := []string{}
	for _, m := range p.Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestHistory_PagesCurrentRows(t *testing.T) {
	ts := startServer(t, nil)
	ch := createChannel(t, ts, "alice", "hist", "bob")
	cid := ch.Channel.CID
	seq := map[string]int64{}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("m%d", i)
		seq[id] = sendMsg(t, ts, "alice", cid, id, id).Seq
	}
	ts.must(t, "alice", "DELETE", "/messages/m2", nil, nil)           // soft: still a row
	ts.must(t, "alice", "DELETE", "/messages/m3?hard=true", nil, nil) // gone
	epoch := epochOf(t, ts, "alice", cid)

	first, err := historyPage(t, ts, "bob", cid, "?limit=2&epoch="+epoch)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(pageIDs(first)); got != "[m4 m5]" || first.Status != protocol.ChannelOK {
		t.Fatalf("first page %s %s, want ok [m4 m5]", first.Status, got)
	}
	if first.Position == nil || first.To != first.Position.Seq || first.From != seq["m4"] {
		t.Fatalf("first page covers %d..%d at %+v, want %d..head", first.From, first.To, first.Position, seq["m4"])
	}
	second, err := historyPage(t, ts, "bob", cid, fmt.Sprintf("?limit=2&before=%d", first.From))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(pageIDs(second)); got != "[m1 m2]" || second.To != first.From-1 || second.Start() {
		t.Fatalf("second page %s covering %d..%d, want [m1 m2] up to %d, not the start", got, second.From, second.To, first.From-1)
	}
	last, err := historyPage(t, ts, "bob", cid, fmt.Sprintf("?limit=2&before=%d", second.From))
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Messages) != 0 || !last.Start() || last.To != second.From-1 {
		t.Fatalf("last page %v covering %d..%d, want empty, from the start", pageIDs(last), last.From, last.To)
	}
	past, err := historyPage(t, ts, "bob", cid, "?before=1")
	if err != nil || len(past.Messages) != 0 || past.From != 1 || past.To != 0 {
		t.Fatalf("a page before the start: %+v, %v; want an empty page", past, err)
	}

	if p, err := historyPage(t, ts, "bob", cid, "?epoch=another"); err != nil || p.Status != protocol.ChannelReset {
		t.Errorf("a cursor of another epoch: %+v, %v; want status reset", p, err)
	}
	if p, err := historyPage(t, ts, "carol", cid, ""); err != nil || p.Status != protocol.ChannelInaccessible || len(p.Messages) != 0 {
		t.Errorf("a non-member: %+v, %v; want status inaccessible", p, err)
	}
	ts.must(t, "alice", "DELETE", "/channels/"+cid+"/members/bob", nil, nil)
	if p, err := historyPage(t, ts, "bob", cid, ""); err != nil || p.Status != protocol.ChannelInaccessible {
		t.Errorf("a member who left: %+v, %v; want status inaccessible", p, err)
	}
	ts.must(t, "alice", "POST", "/channels/"+cid+"/truncate", nil, nil)
	if p, err := historyPage(t, ts, "alice", cid, ""); err != nil || len(p.Messages) != 0 || !p.Start() {
		t.Errorf("after a truncate: %v, %v; want an empty page from the start", pageIDs(p), err)
	}
	for _, q := range []string{"?kind=records", "?before=-1", "?before=x", "?limit=5000", "?limit=-1", "?epoch=bad!", "?after=1"} {
		if _, err := historyPage(t, ts, "alice", cid, q); err == nil || err.StatusCode != 400 || err.Code != protocol.CodeInput {
			t.Errorf("%s: %v, want a 400 input error", q, err)
		}
	}
}
