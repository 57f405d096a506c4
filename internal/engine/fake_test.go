package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// fakeConn is an in-memory server behind the Conn interface, for the
// faults a real server cannot be made to produce on cue: errors injected
// into sync, whole batches and single ops, a sync held in flight, a
// connection that flips on command.
type fakeConn struct {
	user string

	mu         sync.Mutex
	healthy    bool
	handlers   map[int]client.Handler
	nextID     int
	now        time.Time
	seq        map[string]int64
	events     []protocol.Event
	feed       []protocol.Event // the user's membership feed
	messages   map[string]protocol.Message
	channels   map[string]protocol.Channel
	pageSize   int
	syncErrs   []error // returned, in turn, by the next Sync calls
	writeErrs  []error // returned, in turn, by the next single ops
	batchErrs  []error // returned, in turn, by the next Batch calls
	batchSizes []int   // ops of each Batch call that reached the "server"
	batchCalls int
	syncCalls  int
	syncReqs   []protocol.SyncRequest // every Sync request, in order
	writes     []string               // "type:id" of every applied write, in order
	hold       chan struct{}
	holding    chan struct{}
	serverID   string          // the id set by SetServerID
	syncHello  *protocol.Hello // said by every Sync answer, if set
}

// fakeStart is the fake server's clock when a fakeConn is made.
var fakeStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func newFakeConn(user string) *fakeConn {
	return &fakeConn{user: user, handlers: map[int]client.Handler{}, now: fakeStart,
		seq: map[string]int64{}, messages: map[string]protocol.Message{}, channels: map[string]protocol.Channel{}, pageSize: 3}
}

func (f *fakeConn) UserID() string { return f.user }

func (f *fakeConn) SetServerID(id string) {
	f.mu.Lock()
	f.serverID = id
	f.mu.Unlock()
}

// Hello says the fake server's retention window: 30 days.
func (f *fakeConn) Hello() *protocol.Hello {
	return &protocol.Hello{ServerID: "fake-server", RetentionMS: (30 * 24 * time.Hour).Milliseconds()}
}

func (f *fakeConn) IsHealthy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.healthy
}

func (f *fakeConn) OnAll(h client.Handler) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextID
	f.nextID++
	f.handlers[id] = h
	return func() {
		f.mu.Lock()
		delete(f.handlers, id)
		f.mu.Unlock()
	}
}

func (f *fakeConn) handlerCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.handlers)
}

// setOnline flips the connection and emits connection.changed, as the
// client does, on the caller's goroutine.
func (f *fakeConn) setOnline(online bool) {
	f.mu.Lock()
	f.healthy = online
	hs := make([]client.Handler, 0, len(f.handlers))
	for _, h := range f.handlers {
		hs = append(hs, h)
	}
	f.mu.Unlock()
	for _, h := range hs {
		h(client.Event{Event: protocol.Event{Type: client.EventConnectionChanged}, Online: online})
	}
}

func (f *fakeConn) tick() time.Time {
	f.now = f.now.Add(time.Second)
	return f.now
}

// addChannel creates a channel on the fake server.
func (f *fakeConn) addChannel(cid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	typ, id, _ := protocol.SplitCID(cid)
	f.seq[cid]++
	ch := protocol.Channel{CID: cid, Type: typ, ID: id, Name: id, CreatedAt: f.tick(), Version: f.seq[cid]}
	ch.UpdatedAt = ch.CreatedAt
	f.channels[cid] = ch
	f.events = append(f.events, protocol.Event{ID: "ev-" + cid + "-created", Type: protocol.EventChannelCreated, CID: cid,
		Seq: f.seq[cid], Epoch: "ep-" + cid, CreatedAt: ch.CreatedAt, Channel: &ch})
	f.feed = append(f.feed, protocol.Event{ID: "feed-" + cid, Type: protocol.EventNotificationAddedToChannel, CID: cid,
		Seq: int64(len(f.feed) + 1), Epoch: "feed", CreatedAt: ch.CreatedAt, Channel: &ch})
}

// post stores a message from another user, as the server would, and
// returns its event (not delivered live).
func (f *fakeConn) post(cid, id, text string) protocol.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applyMessageLocked(cid, id, "someone", text)
}

func (f *fakeConn) applyMessageLocked(cid, id, user, text string) protocol.Event {
	f.seq[cid]++
	at := f.tick()
	m := protocol.Message{ID: id, CID: cid, UserID: user, Text: text, CreatedAt: at, UpdatedAt: at, Version: f.seq[cid]}
	if old, ok := f.messages[id]; ok {
		m.CreatedAt = old.CreatedAt
	}
	f.messages[id] = m
	ev := protocol.Event{ID: fmt.Sprintf("ev-%s-%d", cid, f.seq[cid]), Type: protocol.EventMessageNew, CID: cid, Seq: f.seq[cid],
		Epoch: "ep-" + cid, CreatedAt: at, Message: &m}
	f.events = append(f.events, ev)
	return ev
}

// Sync answers as the real server does, for a user who is a member of
// every channel of the fake: the feed announces each channel once, in the
// order they were made; channel events follow positions, pageSize a page.
func (f *fakeConn) Sync(ctx context.Context, req protocol.SyncRequest) (*protocol.SyncResponse, error) {
	f.mu.Lock()
	f.syncCalls++
	f.syncReqs = append(f.syncReqs, req)
	hold, holding := f.hold, f.holding
	f.mu.Unlock()
	if hold != nil {
		close(holding)
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.syncErrs) > 0 {
		err := f.syncErrs[0]
		f.syncErrs = f.syncErrs[1:]
		return nil, err
	}
	resp := &protocol.SyncResponse{Events: []protocol.Event{}, SyncedAt: f.now, Hello: f.syncHello}
	budget := f.pageSize
	feedSeq := int64(len(f.feed))
	resp.Feed.Position = protocol.Position{Epoch: "feed", Seq: feedSeq}
	if feedSeq > 0 {
		resp.Feed.Position.EventID = f.feed[feedSeq-1].ID
	}
	switch {
	case req.Feed == nil || req.Feed.Epoch != "feed" || req.Feed.Seq > feedSeq:
		resp.Feed.Reset = true
		for _, ev := range f.feed {
			resp.Feed.Channels = append(resp.Feed.Channels, ev.CID)
		}
		sort.Strings(resp.Feed.Channels)
	default:
		for _, ev := range f.feed[req.Feed.Seq:] {
			if budget == 0 {
				resp.More = true
				resp.Feed.Position = protocol.Position{Epoch: "feed", Seq: ev.Seq - 1}
				break
			}
			resp.Feed.Events = append(resp.Feed.Events, ev)
			budget--
		}
	}
	for _, p := range req.Channels {
		if budget == 0 {
			resp.More = true
			break
		}
		if _, ok := f.channels[p.CID]; !ok {
			resp.Channels = append(resp.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelInaccessible})
			continue
		}
		if p.Epoch != "ep-"+p.CID {
			resp.Channels = append(resp.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelReset, Reason: "epoch"})
			continue
		}
		var last *protocol.Event
		for i := range f.events {
			ev := f.events[i]
			if ev.CID != p.CID || ev.Seq <= p.Seq {
				continue
			}
			if budget == 0 {
				resp.More = true
				break
			}
			resp.Events = append(resp.Events, ev)
			last = &ev
			budget--
		}
		if last != nil {
			resp.Channels = append(resp.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelOK,
				Position: &protocol.Position{Epoch: last.Epoch, Seq: last.Seq, EventID: last.ID}})
		}
	}
	return resp, nil
}

// Records answers that a channel holds no records: the fake logs carry
// none.
func (f *fakeConn) Records(ctx context.Context, cid, after string, limit int) (*protocol.RecordsResponse, error) {
	return &protocol.RecordsResponse{Records: []protocol.Record{}}, nil
}

// QueryChannels answers with the state of the channels asked for (all of
// them without CIDs), each at its position.
func (f *fakeConn) QueryChannels(ctx context.Context, req protocol.QueryChannelsRequest) (*protocol.QueryChannelsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &protocol.QueryChannelsResponse{Channels: []protocol.ChannelResponse{}, SyncedAt: f.now}
	cids := req.CIDs
	if len(cids) == 0 {
		for cid := range f.channels {
			cids = append(cids, cid)
		}
	}
	sort.Strings(cids)
	for _, cid := range cids {
		ch, ok := f.channels[cid]
		if !ok {
			resp.Inaccessible = append(resp.Inaccessible, cid)
			continue
		}
		cr := protocol.ChannelResponse{Channel: ch, Position: &protocol.Position{Epoch: "ep-" + cid, Seq: f.seq[cid]}}
		for i := len(f.events) - 1; i >= 0; i-- {
			if f.events[i].CID == cid {
				cr.Position.EventID = f.events[i].ID
				break
			}
		}
		for _, m := range f.messages {
			if m.CID == cid {
				cr.Messages = append(cr.Messages, m)
			}
		}
		resp.Channels = append(resp.Channels, cr)
	}
	return resp, nil
}

// History answers with the fake's messages of the channel older than
// req.Before, as the server pages them.
func (f *fakeConn) History(ctx context.Context, cid string, req protocol.HistoryRequest) (*protocol.HistoryPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.channels[cid]; !ok {
		return &protocol.HistoryPage{Status: protocol.ChannelInaccessible}, nil
	}
	pos := protocol.Position{Epoch: "ep-" + cid, Seq: f.seq[cid]}
	page := &protocol.HistoryPage{Status: protocol.ChannelOK, Kind: req.Kind, Position: &pos, From: 1, To: pos.Seq}
	if req.Before > 0 {
		page.To = min(req.Before-1, pos.Seq)
	}
	var msgs []protocol.Message
	for _, m := range f.messages {
		if m.CID == cid && m.Seq > 0 && m.Seq <= page.To {
			msgs = append(msgs, m)
		}
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].Seq < msgs[j].Seq })
	if req.Limit > 0 && len(msgs) >= req.Limit {
		msgs = msgs[len(msgs)-req.Limit:]
		page.From = msgs[0].Seq
	}
	page.Messages = msgs
	return page, nil
}

func (f *fakeConn) write(kind, id string) error {
	if len(f.writeErrs) > 0 {
		err := f.writeErrs[0]
		f.writeErrs = f.writeErrs[1:]
		if err != nil {
			return err
		}
	}
	f.writes = append(f.writes, kind+":"+id)
	return nil
}

// Batch runs each op through the fake's single writes, so writeErrs
// fail single ops; batchErrs fail whole calls, in turn, before anything
// is applied. A transport error of an op fails the whole call.
func (f *fakeConn) Batch(ctx context.Context, req protocol.BatchRequest) (*protocol.BatchResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batchCalls++
	if len(f.batchErrs) > 0 {
		err := f.batchErrs[0]
		f.batchErrs = f.batchErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	f.batchSizes = append(f.batchSizes, len(req.Ops))
	out := &protocol.BatchResponse{}
	for _, op := range req.Ops {
		var res protocol.BatchResult
		var m *protocol.Message
		var err error
		switch op.Type {
		case protocol.OpSendMessage:
			var body protocol.SendMessageRequest
			_ = json.Unmarshal(op.Body, &body)
			m, err = f.sendMessageLocked(op.CID, body)
			res.Status = 201
		case protocol.OpUpdateMessage:
			var body protocol.UpdateMessageRequest
			_ = json.Unmarshal(op.Body, &body)
			m, err = f.updateMessageLocked(op.MessageID, body)
			res.Status = 200
		default:
			err = protocol.NewAPIError(protocol.CodeNotAllowed, "not in the fake")
		}
		if err != nil {
			ae, ok := protocol.AsAPIError(err)
			if !ok {
				return nil, err
			}
			res = protocol.BatchResult{Status: ae.StatusCode, Error: ae}
		} else {
			res.Message = m
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

func (f *fakeConn) sendMessageLocked(cid string, req protocol.SendMessageRequest) (*protocol.Message, error) {
	if err := f.write("send", req.Message.ID); err != nil {
		return nil, err
	}
	if m, ok := f.messages[req.Message.ID]; ok { // a repeat: the stored message
		return &m, nil
	}
	ev := f.applyMessageLocked(cid, req.Message.ID, f.user, req.Message.Text)
	return ev.Message, nil
}

func (f *fakeConn) updateMessageLocked(id string, req protocol.UpdateMessageRequest) (*protocol.Message, error) {
	if err := f.write("update", id); err != nil {
		return nil, err
	}
	m, ok := f.messages[id]
	if !ok {
		return nil, protocol.NewAPIError(protocol.CodeNotFound, "message %s not found", id)
	}
	ev := f.applyMessageLocked(m.CID, id, m.UserID, req.Text)
	return ev.Message, nil
}

// batches returns the ops of each batch that reached the "server", and
// the number of Batch calls.
func (f *fakeConn) batches() ([]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batchSizes...), f.batchCalls
}

func (f *fakeConn) writesSoFar() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

func openStore(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "local.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	// Bound to the fake connection's user, as outpost.Open binds it.
	if err := db.Bind(context.Background(), "bob", false); err != nil {
		tb.Fatal(err)
	}
	return db
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition, not waiting a guess
	}
}
