package outpost_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

const badCID = "team:bad"

// badServer speaks enough of the protocol for one user and one channel:
// the WebSocket, sync, the channel query (refill) and write batches of
// sends and reactions. Healthy, it keeps a small event log; with a case
// set, it answers sync (and, if the case says so, write batches) and the
// WebSocket the case's broken way.
type badServer struct {
	tb    testing.TB
	srv   *faultproxy.Server
	token string         // bob's; the only one accepted
	wg    sync.WaitGroup // WebSocket handlers

	mu      sync.Mutex // guards the fields below
	bc      *badCase   // nil: healthy
	msgs    []protocol.Message
	events  []protocol.Event
	seq     int64
	sends   map[string]int // message id -> healthy sends received
	reacts  map[string]int // "message id|type" -> healthy reactions received
	broken  int            // broken answers given (REST or WebSocket)
	queries int            // channel queries (refills) answered
	syncs   int            // healthy sync answers given
	resetAt time.Time      // when badResetting first answered 410
	written []int64        // bytes written by each huge answer
}

// badCase is one kind of broken server.
type badCase struct {
	name string
	// rest, if set, answers POST /sync (and the writes, if writes) instead
	// of the healthy handler.
	rest   func(bs *badServer, w http.ResponseWriter, r *http.Request)
	writes bool
	// reactions: rest answers the batches that hold a reaction too.
	reactions bool
	// wsFirst, if set, replaces the first frame (the health.check);
	// wsAfter runs after it. Either makes the connection count as broken.
	wsFirst func(ctx context.Context, c *websocket.Conn)
	wsAfter func(ctx context.Context, c *websocket.Conn)
	// silent: the server never answers the client's health checks.
	silent bool
	// reset: the SDK must reset the store (codes 60 and 61, and a
	// checkpoint past the retention window, only).
	reset bool
	// retention, if set, is the retention window the server's hello
	// says (the first frame of each WebSocket).
	retention time.Duration
	// bitten reports that the client met the case enough; nil means two
	// broken answers (so the client came back after the first).
	bitten func(bs *badServer) bool
	// check, if set, checks the store while the server is still broken;
	// it reports through fail.
	check func(t *testing.T, c *outpost.Client, fail func(format string, args ...any))
	// known names a bug this case shows today (reported, not fixed here):
	// its failures are logged, and the case fails once they are gone, so
	// that the mark is dropped with the fix.
	known string
}

func newBadServer(tb testing.TB) *badServer {
	tb.Helper()
	bs := &badServer{tb: tb, token: badToken(tb), sends: map[string]int{}, reacts: map[string]int{}}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	for i := range 4 {
		bs.seq++
		m := protocol.Message{ID: fmt.Sprintf("m%d", i), CID: badCID, UserID: "alice", Text: fmt.Sprintf("old %d", i),
			CreatedAt: base.Add(time.Duration(i) * time.Second), UpdatedAt: base.Add(time.Duration(i) * time.Second), Version: bs.seq}
		bs.msgs = append(bs.msgs, m)
		bs.events = append(bs.events, protocol.Event{ID: fmt.Sprintf("ev%d", bs.seq), Type: protocol.EventMessageNew, CID: badCID,
			Seq: bs.seq, Epoch: badEpoch, CreatedAt: m.CreatedAt, UserID: "alice", Message: &m})
	}
	srv, err := faultproxy.NewServer(bs)
	if err != nil {
		tb.Fatal(err)
	}
	bs.srv = srv
	tb.Cleanup(func() {
		srv.Close()
		bs.wg.Wait()
	})
	return bs
}

func (bs *badServer) set(bc *badCase) {
	bs.mu.Lock()
	bs.bc = bc
	bs.mu.Unlock()
}

// forget drops a message from the server's state (not its log), so that
// a refill after a reset no longer brings it: a store that still holds it
// was not reset.
func (bs *badServer) forget(id string) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.msgs = slices.DeleteFunc(bs.msgs, func(m protocol.Message) bool { return m.ID == id })
}

func (bs *badServer) stat(f func(bs *badServer) int) int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return f(bs)
}

func (bs *badServer) countBroken() {
	bs.mu.Lock()
	bs.broken++
	bs.mu.Unlock()
}

func badNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func badJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (bs *badServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get(protocol.HeaderAuthorization), "Bearer ")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok != bs.token {
		badJSON(w, http.StatusUnauthorized, protocol.NewAPIError(protocol.CodeAuth, "bad token"))
		return
	}
	bs.mu.Lock()
	bc := bs.bc
	bs.mu.Unlock()
	// The SDK writes through POST /batch only.
	isBatch := r.Method == http.MethodPost && r.URL.Path == protocol.PathBatch
	var batch protocol.BatchRequest
	if isBatch {
		body, err := io.ReadAll(r.Body)
		if err != nil || json.Unmarshal(body, &batch) != nil {
			badJSON(w, http.StatusBadRequest, protocol.NewAPIError(protocol.CodeInput, "bad batch"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	isReact := slices.ContainsFunc(batch.Ops, func(op protocol.BatchOp) bool { return op.Type == protocol.OpSendReaction })
	switch {
	case r.URL.Path == protocol.PathConnect:
		bs.serveConnect(w, r, bc)
	case bc != nil && bc.rest != nil && (r.URL.Path == protocol.PathSync || (bc.writes && isBatch) || (bc.reactions && isReact)):
		bs.countBroken()
		bc.rest(bs, w, r)
	case r.URL.Path == protocol.PathSync:
		bs.serveSync(w, r)
	case r.URL.Path == protocol.PathQueryChannels:
		bs.serveQuery(w)
	case r.Method == http.MethodGet && r.URL.Path == "/channels/"+badCID+"/history":
		bs.serveHistory(w, r)
	case isBatch:
		bs.serveBatch(w, batch)
	default:
		badJSON(w, http.StatusNotFound, protocol.NewAPIError(protocol.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	}
}

// The bad server's one channel log and the user's feed, each under one
// epoch.
const (
	badEpoch     = "bad-epoch"
	badFeedEpoch = "bad-feed"
)

func decodeSync(r *http.Request) (protocol.SyncRequest, error) {
	var req protocol.SyncRequest
	err := json.NewDecoder(r.Body).Decode(&req)
	return req, err
}

func (bs *badServer) serveSync(w http.ResponseWriter, r *http.Request) {
	req, err := decodeSync(r)
	if err != nil {
		badJSON(w, http.StatusBadRequest, protocol.NewAPIError(protocol.CodeInput, "bad sync body: %v", err))
		return
	}
	bs.answerSync(w, req)
}

// answerSync answers as the real server does: a feed that announces
// team:bad once, and the channel's events after the client's position.
func (bs *badServer) answerSync(w http.ResponseWriter, req protocol.SyncRequest) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.syncs++
	resp := protocol.SyncResponse{Events: []protocol.Event{}, SyncedAt: badNow(),
		Feed: protocol.FeedPage{Position: protocol.Position{Epoch: badFeedEpoch, Seq: 1, EventID: "feed1"}}}
	if req.Feed == nil || *req.Feed != resp.Feed.Position {
		resp.Feed.Reset, resp.Feed.Channels = true, []string{badCID}
	}
	for _, p := range req.Channels {
		last := bs.events[len(bs.events)-1]
		switch {
		case p.CID != badCID:
			resp.Channels = append(resp.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelInaccessible})
		case p.Epoch != badEpoch || p.Seq > last.Seq:
			resp.Channels = append(resp.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelReset, Reason: "unknown position"})
		case p.Seq < last.Seq:
			for _, ev := range bs.events {
				if ev.Seq > p.Seq {
					resp.Events = append(resp.Events, ev)
				}
			}
			resp.Channels = append(resp.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelOK,
				Position: &protocol.Position{Epoch: badEpoch, Seq: last.Seq, EventID: last.ID}})
		}
	}
	badJSON(w, http.StatusOK, resp)
}

func (bs *badServer) channelState() protocol.ChannelResponse {
	created := bs.events[0].CreatedAt
	last := bs.events[len(bs.events)-1]
	return protocol.ChannelResponse{
		Channel:  protocol.Channel{CID: badCID, Type: "team", ID: "bad", CreatedBy: "alice", CreatedAt: created, UpdatedAt: created, Version: 1},
		Members:  []protocol.Member{{CID: badCID, UserID: "bob", CreatedAt: created, UpdatedAt: created, Version: 1}},
		Messages: slices.Clone(bs.msgs), Reads: []protocol.Read{},
		Position: &protocol.Position{Epoch: badEpoch, Seq: last.Seq, EventID: last.ID},
	}
}

func (bs *badServer) serveQuery(w http.ResponseWriter) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.queries++
	badJSON(w, http.StatusOK, protocol.QueryChannelsResponse{Channels: []protocol.ChannelResponse{bs.channelState()}, SyncedAt: badNow()})
}

// serveHistory answers a page of the channel's messages below the
// request's before (a message's seq is its version here), all of them.
func (bs *badServer) serveHistory(w http.ResponseWriter, r *http.Request) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	st := bs.channelState()
	page := protocol.HistoryPage{Status: protocol.ChannelOK, Kind: protocol.HistoryMessages, Position: st.Position, From: 1, To: st.Position.Seq}
	if before, err := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64); err == nil && before > 0 {
		page.To = min(before-1, page.To)
	}
	for _, m := range bs.msgs {
		if m.Version <= page.To {
			m.Seq = m.Version
			page.Messages = append(page.Messages, m)
		}
	}
	badJSON(w, http.StatusOK, page)
}

// serveBatch applies the sends and reactions of a batch, the only way the
// SDK writes.
func (bs *badServer) serveBatch(w http.ResponseWriter, req protocol.BatchRequest) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	resp := protocol.BatchResponse{Results: make([]protocol.BatchResult, len(req.Ops))}
	for i, op := range req.Ops {
		var err *protocol.APIError
		switch op.Type {
		case protocol.OpSendMessage:
			var body protocol.SendMessageRequest
			if json.Unmarshal(op.Body, &body) != nil {
				err = protocol.NewAPIError(protocol.CodeInput, "bad body")
				break
			}
			m := bs.applySendLocked(body)
			resp.Results[i] = protocol.BatchResult{Status: http.StatusCreated, Message: &m}
		case protocol.OpSendReaction:
			var body protocol.SendReactionRequest
			if json.Unmarshal(op.Body, &body) != nil {
				err = protocol.NewAPIError(protocol.CodeInput, "bad body")
				break
			}
			var m protocol.Message
			var rc protocol.Reaction
			if m, rc, err = bs.applyReactLocked(op.MessageID, body); err == nil {
				resp.Results[i] = protocol.BatchResult{Status: http.StatusCreated, Message: &m, Reaction: &rc}
			}
		default:
			err = protocol.NewAPIError(protocol.CodeInput, "op %s is not served here", op.Type)
		}
		if err != nil {
			err.StatusCode = protocol.StatusForCode(err.Code)
			resp.Results[i] = protocol.BatchResult{Status: err.StatusCode, Error: err}
		}
	}
	badJSON(w, http.StatusOK, resp)
}

func (bs *badServer) applySendLocked(req protocol.SendMessageRequest) protocol.Message {
	bs.sends[req.Message.ID]++
	for _, m := range bs.msgs {
		if m.ID == req.Message.ID {
			return m
		}
	}
	bs.seq++
	now := badNow()
	m := protocol.Message{ID: req.Message.ID, CID: badCID, UserID: "bob", Text: req.Message.Text, CreatedAt: now, UpdatedAt: now, Version: bs.seq}
	bs.msgs = append(bs.msgs, m)
	bs.events = append(bs.events, protocol.Event{ID: fmt.Sprintf("ev%d", bs.seq), Type: protocol.EventMessageNew, CID: badCID,
		Seq: bs.seq, Epoch: badEpoch, CreatedAt: now, UserID: "bob", Message: &m})
	return m
}

// applyReactLocked stores bob's reaction (one type at most, enough here).
func (bs *badServer) applyReactLocked(id string, req protocol.SendReactionRequest) (protocol.Message, protocol.Reaction, *protocol.APIError) {
	i := slices.IndexFunc(bs.msgs, func(m protocol.Message) bool { return m.ID == id })
	if i < 0 {
		return protocol.Message{}, protocol.Reaction{}, protocol.NewAPIError(protocol.CodeNotFound, "message %s does not exist", id)
	}
	bs.reacts[id+"|"+req.Type]++
	bs.seq++
	now := badNow()
	m := bs.msgs[i]
	m.ReactionCounts, m.Version = map[string]int{req.Type: 1}, bs.seq
	bs.msgs[i] = m
	rc := protocol.Reaction{MessageID: id, CID: badCID, UserID: "bob", Type: req.Type, CreatedAt: now, UpdatedAt: now, Version: bs.seq}
	bs.events = append(bs.events, protocol.Event{ID: fmt.Sprintf("ev%d", bs.seq), Type: protocol.EventReactionNew, CID: badCID,
		Seq: bs.seq, Epoch: badEpoch, CreatedAt: now, UserID: "bob", Message: &m, Reaction: &rc})
	return m, rc, nil
}

// post stores a message as the server's own write (no live event).
func (bs *badServer) post(user, text string) string {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.seq++
	now := badNow()
	id := fmt.Sprintf("fresh%d", bs.seq)
	m := protocol.Message{ID: id, CID: badCID, UserID: user, Text: text, CreatedAt: now, UpdatedAt: now, Version: bs.seq}
	bs.msgs = append(bs.msgs, m)
	bs.events = append(bs.events, protocol.Event{ID: fmt.Sprintf("ev%d", bs.seq), Type: protocol.EventMessageNew, CID: badCID,
		Seq: bs.seq, Epoch: badEpoch, CreatedAt: now, UserID: user, Message: &m})
	return id
}

func (bs *badServer) serveConnect(w http.ResponseWriter, r *http.Request, bc *badCase) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	bs.wg.Add(1)
	defer bs.wg.Done()
	defer conn.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	send := func(ev protocol.Event) {
		data, _ := json.Marshal(ev)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		conn.Write(wctx, websocket.MessageText, data)
	}
	broken := bc != nil && (bc.wsFirst != nil || bc.wsAfter != nil)
	if broken {
		bs.countBroken()
	}
	if broken && bc.wsFirst != nil {
		bc.wsFirst(ctx, conn)
	} else {
		first := protocol.Event{Type: protocol.EventHealthCheck, ConnectionID: fmt.Sprintf("conn-%p", conn), CreatedAt: badNow()}
		if bc != nil && bc.retention > 0 {
			first.Hello = &protocol.Hello{ServerID: "bad-server", RetentionMS: bc.retention.Milliseconds()}
		}
		send(first)
	}
	if broken && bc.wsAfter != nil {
		bc.wsAfter(ctx, conn)
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var ev protocol.Event
		if json.Unmarshal(data, &ev) == nil && ev.Type == protocol.EventHealthCheck && (bc == nil || !bc.silent) {
			send(protocol.Event{Type: protocol.EventHealthCheck, ConnectionID: "x", CreatedAt: badNow()})
		}
	}
}

// badToken issues a token for bob.
func badToken(tb testing.TB) string {
	tb.Helper()
	tok, err := token.Issue(secret, "bob", 24*time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func badOpen(tb testing.TB, bs *badServer, path string, wait time.Duration) *outpost.Client {
	tb.Helper()
	c, err := outpost.Open(context.Background(), outpost.Config{
		ServerURL: bs.srv.URL(), UserID: "bob", Token: bs.token, DBPath: path, ConnectTimeout: wait,
		// Short bounds, so that every case ends in a few seconds; the
		// body and frame limits are the defaults a user gets.
		Client: client.Config{MinReconnectDelay: 10 * time.Millisecond, MaxReconnectDelay: 100 * time.Millisecond,
			HealthCheckInterval: 200 * time.Millisecond, HealthTimeout: time.Second, RequestTimeout: 2 * time.Second},
		Sync: syncmanager.Options{RetryMinDelay: 20 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond},
	})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return c
}

func badWait(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

func badHas(tb testing.TB, c *outpost.Client, id string) bool {
	tb.Helper()
	_, err := outpost.StoreOf(c).Message(context.Background(), id)
	return err == nil
}

// badRaw answers with a status, a content type and a body as given.
func badRaw(status int, ctype, body string, header ...string) func(*badServer, http.ResponseWriter, *http.Request) {
	return func(_ *badServer, w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

// badResetting answers with a 410 and body a sync from positions handed
// out before its first 410, and any later one (from the client's reset,
// and what the refill brought) as the healthy server: as a real server,
// which finds no fault with positions it gave out since.
func badResetting(body string) func(*badServer, http.ResponseWriter, *http.Request) {
	return func(bs *badServer, w http.ResponseWriter, r *http.Request) {
		req, err := decodeSync(r)
		bs.mu.Lock()
		if bs.resetAt.IsZero() {
			bs.resetAt = badNow()
		}
		fresh := err == nil && ((req.Feed == nil && req.LastSyncAt.IsZero()) || req.LastSyncAt.After(bs.resetAt))
		bs.mu.Unlock()
		if fresh {
			bs.answerSync(w, req)
			return
		}
		badRaw(410, "application/json", body)(bs, w, r)
	}
}

// badSyncEvents answers sync with these events (valid JSON, wrong content).
func badSyncEvents(evs func() []protocol.Event) func(*badServer, http.ResponseWriter, *http.Request) {
	return func(_ *badServer, w http.ResponseWriter, _ *http.Request) {
		badJSON(w, http.StatusOK, protocol.SyncResponse{Events: evs(), SyncedAt: badNow()})
	}
}

func badMsgEvent(typ protocol.EventType, cid, id, text string, seq int64) protocol.Event {
	now := badNow()
	m := protocol.Message{ID: id, CID: cid, UserID: "alice", Text: text, CreatedAt: now, UpdatedAt: now, Version: seq}
	return protocol.Event{ID: fmt.Sprintf("bad-%s-%d", id, seq), Type: typ, CID: cid, Seq: seq, CreatedAt: now, UserID: "alice", Message: &m}
}

// badDupReordered is a page with an update before its message, both twice,
// and a gap in the sequence (5 is missing).
func badDupReordered() []protocol.Event {
	upd := badMsgEvent(protocol.EventMessageUpdated, badCID, "m9", "v2", 7)
	nw := badMsgEvent(protocol.EventMessageNew, badCID, "m9", "v1", 6)
	return []protocol.Event{upd, nw, upd, nw}
}

func badWSFrames(frames ...[]byte) func(ctx context.Context, c *websocket.Conn) {
	return func(ctx context.Context, c *websocket.Conn) {
		for _, f := range frames {
			typ := websocket.MessageText
			if len(f) > 0 && f[0] == 0 {
				typ = websocket.MessageBinary
			}
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := c.Write(wctx, typ, f)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

func badEventFrames(evs ...protocol.Event) func(ctx context.Context, c *websocket.Conn) {
	var frames [][]byte
	for _, ev := range evs {
		data, _ := json.Marshal(ev)
		frames = append(frames, data)
	}
	return badWSFrames(frames...)
}

// badHuge streams a body of n bytes that looks like the start of a long
// sync page, and records how much of it got written before the client
// stopped reading.
func badHuge(n int64) func(*badServer, http.ResponseWriter, *http.Request) {
	return func(bs *badServer, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		ev, _ := json.Marshal(badMsgEvent(protocol.EventMessageNew, badCID, "huge", strings.Repeat("x", 4000), 100))
		chunk := []byte(`{"events":[`)
		var written int64
		for written < n && r.Context().Err() == nil {
			k, err := w.Write(chunk)
			written += int64(k)
			if err != nil {
				break
			}
			chunk = append(ev, ',')
		}
		bs.mu.Lock()
		bs.written = append(bs.written, written)
		bs.mu.Unlock()
	}
}

// badSlowloris trickles a body a byte at a time until the client leaves.
func badSlowloris(bs *badServer, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	body := `{"events":[],"synced_at":"` + badNow().Format(time.RFC3339Nano) + `"}`
	for i := 0; r.Context().Err() == nil; i++ {
		w.Write([]byte{body[i%len(body)]})
		rc.Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(50 * time.Millisecond): // the trickle's pace
		}
	}
}

func badCases() []badCase {
	apiErr := func(status, code int, msg string) string {
		data, _ := json.Marshal(protocol.APIError{Code: code, Message: msg, StatusCode: status})
		return string(data)
	}
	html := "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
	// once: a valid answer with wrong content; the client has no reason
	// to ask twice.
	once := func(bs *badServer) bool { return bs.broken >= 1 }
	wsSeen := func(n int) func(bs *badServer) bool {
		return func(bs *badServer) bool { return bs.broken >= n }
	}
	return []badCase{
		{name: "rest/truncated-json", writes: true, rest: badRaw(200, "application/json", `{"events":[{"id":"e1","type":"message.new","cid":"team:b`)},
		{name: "rest/wrong-types", writes: true, rest: badRaw(200, "application/json", `{"events":"none","synced_at":12,"next_cursor":[1],"message":7}`)},
		{name: "rest/empty-body", writes: true, rest: badRaw(200, "application/json", ``)},
		{name: "rest/null", writes: true, rest: badRaw(200, "application/json", `null`)},
		{name: "rest/null-to-a-reaction", reactions: true, rest: badRaw(200, "application/json", `null`)},
		{name: "rest/empty-object-to-a-reaction", reactions: true, rest: badRaw(201, "application/json", `{}`)},
		{name: "rest/truncated-json-to-a-reaction", reactions: true, rest: badRaw(201, "application/json", `{"message":{"id":"m1"`)},
		{name: "rest/huge-50MB", rest: badHuge(50 << 20), bitten: once},
		{name: "rest/html-200", writes: true, rest: badRaw(200, "text/html", html)},
		{name: "rest/html-502", writes: true, rest: badRaw(502, "text/html", html)},
		{name: "rest/wrong-content-type", rest: func(_ *badServer, w http.ResponseWriter, _ *http.Request) {
			data, _ := json.Marshal(protocol.SyncResponse{Events: []protocol.Event{}, SyncedAt: badNow()})
			badRaw(200, "text/plain; charset=latin1", string(data))(nil, w, nil)
		}, bitten: once},
		{name: "rest/500", writes: true, rest: badRaw(500, "application/json", apiErr(500, -1, "boom"))},
		{name: "rest/503-retry-after", writes: true, rest: badRaw(503, "application/json", apiErr(503, -1, "busy"), "Retry-After", "1")},
		{name: "rest/429-retry-after", writes: true, rest: badRaw(429, "application/json", apiErr(429, 9, "slow down"), "Retry-After", "1")},
		{name: "rest/408", writes: true, rest: badRaw(408, "application/json", apiErr(408, 23, "timeout"))},
		{name: "rest/slowloris", writes: true, rest: badSlowloris},
		{name: "rest/404-on-sync", rest: badRaw(404, "application/json", apiErr(404, 16, "no such thing"))},
		{name: "rest/410-unknown-code", rest: badRaw(410, "application/json", apiErr(410, 77, "gone, somehow"))},
		{name: "rest/410-html", rest: badRaw(410, "text/html", html)},
		{name: "rest/synced-at-in-the-past", rest: func(_ *badServer, w http.ResponseWriter, _ *http.Request) {
			badJSON(w, 200, protocol.SyncResponse{Events: []protocol.Event{}, SyncedAt: badNow().Add(-48 * time.Hour)})
		}, bitten: once},
		{name: "rest/synced-at-in-the-future", rest: func(_ *badServer, w http.ResponseWriter, _ *http.Request) {
			badJSON(w, 200, protocol.SyncResponse{Events: []protocol.Event{}, SyncedAt: badNow().Add(365 * 24 * time.Hour)})
		}, bitten: once},
		{name: "rest/events-for-unknown-channels", rest: badSyncEvents(func() []protocol.Event {
			return []protocol.Event{badMsgEvent(protocol.EventMessageNew, "team:ghost", "g1", "boo", 1)}
		}), bitten: once, check: badNoGhost},
		{name: "rest/duplicated-reordered-gap", rest: badSyncEvents(badDupReordered), bitten: once,
			check: func(t *testing.T, c *outpost.Client, _ func(string, ...any)) {
				badWait(t, 3*time.Second, "m9 at its latest version", func() bool {
					m, err := outpost.StoreOf(c).Message(context.Background(), "m9")
					return err == nil && m.Text == "v2"
				})
			}},
		{name: "rest/410-code-60", reset: true, rest: badResetting(apiErr(410, 60, "position too old"))},
		{name: "retention-window-passed", reset: true, retention: time.Millisecond,
			bitten: func(bs *badServer) bool { return bs.queries >= 2 }},
		{name: "rest/410-code-61", reset: true, rest: badResetting(apiErr(410, 61, "history lost"))},

		{name: "ws/not-json", wsAfter: badWSFrames([]byte("not json{")), bitten: wsSeen(2)},
		{name: "ws/truncated", wsAfter: badWSFrames([]byte(`{"type":"message.new","cid":"team:bad","mess`)), bitten: wsSeen(2)},
		{name: "ws/wrong-types", wsAfter: badWSFrames([]byte(`{"type":5,"seq":"x","message":[]}`)), bitten: wsSeen(2)},
		{name: "ws/binary", wsAfter: badWSFrames([]byte{0, 1, 2, 3}), bitten: wsSeen(2)},
		{name: "ws/huge-frame", wsAfter: badWSFrames([]byte(`{"type":"message.new","text":"` + strings.Repeat("x", 16<<20) + `"}`)), bitten: wsSeen(2)},
		{name: "ws/events-for-unknown-channels", wsAfter: badEventFrames(badMsgEvent(protocol.EventMessageNew, "team:ghost", "g1", "boo", 1)), bitten: wsSeen(1),
			check: badNoGhost},
		// Live events out of order, repeated and past a gap are not
		// applied: they ask for a sync, which brings the log as it is
		// (without m9).
		{name: "ws/duplicated-reordered-gap", wsAfter: badEventFrames(badDupReordered()...),
			bitten: func(bs *badServer) bool { return bs.broken >= 1 && bs.syncs >= 2 },
			check: func(t *testing.T, c *outpost.Client, fail func(string, ...any)) {
				if badHas(t, c, "m9") {
					fail("a live event past a gap was applied")
				}
			}},
		{name: "ws/first-frame-not-health-check", wsFirst: badEventFrames(badMsgEvent(protocol.EventMessageNew, badCID, "early", "hi", 9)), bitten: wsSeen(3)},
		{name: "ws/health-check-without-connection-id", wsFirst: badWSFrames([]byte(`{"type":"health.check"}`)), bitten: wsSeen(3)},
		{name: "ws/silent-after-hello", wsAfter: func(context.Context, *websocket.Conn) {}, silent: true, bitten: wsSeen(2)},
	}
}

// TestBadServer runs the SDK against a server that answers in broken ways.
// For each case: no panic, the store stays readable, it is reset only for
// codes 60 and 61, the checkpoint never moves backward, the pending write
// is not lost, and once the server is healthy again the next sync
// succeeds and the write arrives.
func TestBadServer(t *testing.T) {
	for _, bc := range badCases() {
		t.Run(bc.name, func(t *testing.T) {
			badRun(t, &bc)
		})
	}
}

func badRun(t *testing.T, bc *badCase) {
	ctx := context.Background()
	bs := newBadServer(t)
	path := filepath.Join(t.TempDir(), "bob.db")

	// A store with messages, a checkpoint and a write in the outbox.
	c := badOpen(t, bs, path, 5*time.Second)
	badWait(t, 5*time.Second, "first sync", func() bool { return c.Status().Synced })
	for i := range 4 {
		if id := fmt.Sprintf("m%d", i); !badHas(t, c, id) {
			t.Fatalf("after the first sync the store lacks %s", id)
		}
	}
	t0 := badPosition(t, c)
	if t0.Epoch != badEpoch || t0.Seq != 4 {
		t.Fatalf("position after the first sync = %+v, want seq 4 of %s", t0, badEpoch)
	}
	outpost.ConnOf(c).Disconnect()
	badWait(t, 5*time.Second, "offline", func() bool { return !outpost.ConnOf(c).IsHealthy() })
	pending, err := sentID(c.SendMessage(ctx, badCID, outpost.NewMessage{Text: "written offline"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendReaction(ctx, badCID, "m1", "like"); err != nil {
		t.Fatal(err)
	}
	if tasks, err := c.PendingTasks(ctx); err != nil || len(tasks) != 2 {
		t.Fatalf("pending tasks = %d, %v; want 2", len(tasks), err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The server breaks; m0 is gone from its state, so only a reset
	// (and refill) removes it from the store.
	bs.forget("m0")
	bs.set(bc)
	c = badOpen(t, bs, path, -1)
	t.Cleanup(func() { c.Close(context.Background()) })
	bitten := bc.bitten
	if bitten == nil {
		bitten = func(bs *badServer) bool { return bs.broken >= 2 }
	}
	if bc.reset && bc.bitten == nil {
		bitten = func(bs *badServer) bool { return bs.broken >= 1 && bs.queries >= 2 }
	}
	badWait(t, 8*time.Second, "the client to meet the broken server", func() bool {
		bs.mu.Lock()
		defer bs.mu.Unlock()
		return bitten(bs)
	})
	var known []string
	fail := t.Errorf
	if bc.known != "" {
		fail = func(format string, args ...any) { known = append(known, fmt.Sprintf(format, args...)) }
	}
	if bc.check != nil {
		bc.check(t, c, fail)
	}

	// Still broken: the store is readable, reset only when it must be.
	if bc.reset {
		badWait(t, 5*time.Second, "the reset and refill", func() bool { return !badHas(t, c, "m0") && badHas(t, c, "m1") })
	} else if !badHas(t, c, "m0") {
		t.Errorf("m0 is gone: the store was reset for %s", bc.name)
	}
	for _, id := range []string{"m1", "m2", "m3", pending} {
		if !badHas(t, c, id) {
			t.Errorf("%s is gone from the store", id)
		}
	}
	if _, err := c.Messages(ctx, badCID, offlinedb.MessagesQuery{}); err != nil {
		t.Errorf("store not readable: %v", err)
	}
	badCheckpoint(t, c, t0)
	badNotLost(t, c, bs, pending, fail)
	if n := bs.stat(func(bs *badServer) int { return len(bs.written) }); n > 0 {
		bs.mu.Lock()
		for _, w := range bs.written {
			if w >= 50<<20 {
				t.Errorf("the client read a %d-byte body to the end", w)
			}
		}
		bs.mu.Unlock()
	}

	// Healthy again: the next sync succeeds and the write arrives.
	bs.set(nil)
	badWait(t, 5*time.Second, "online", func() bool { return outpost.ConnOf(c).IsHealthy() })
	badWait(t, 8*time.Second, "a successful sync with an empty outbox", func() bool {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err := c.SyncNow(sctx); err != nil {
			return false
		}
		tasks, err := c.PendingTasks(ctx)
		return err == nil && len(tasks) == 0 && c.Status().Synced
	})
	if fts, _ := c.FailedTasks(ctx); len(fts) > 0 {
		t.Errorf("failed tasks: %+v", fts)
	}
	if m, err := outpost.StoreOf(c).Message(ctx, pending); err != nil || m.Status != offlinedb.StatusSent {
		t.Errorf("the offline write: %+v, %v; want it sent", m, err)
	}
	if n := bs.stat(func(bs *badServer) int { return bs.sends[pending] }); n < 1 {
		t.Errorf("the server never got the offline write")
	}
	if n := bs.stat(func(bs *badServer) int { return bs.reacts["m1|like"] }); n < 1 && !bc.reset {
		// (A reset refills m1 with the server's counts; the reaction
		// task still runs after it.)
		fail("the server never got the offline reaction")
	} else if n < 1 {
		fail("the server never got the offline reaction (after a reset)")
	}
	// And a message written on the server now reaches the store.
	fresh := bs.post("alice", "after the storm")
	for deadline := time.Now().Add(3 * time.Second); ; {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c.SyncNow(sctx)
		cancel()
		if badHas(t, c, fresh) {
			break
		}
		if time.Now().After(deadline) {
			fail("a message written on the server after healing never reached the store")
			break
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	if bc.check != nil && bc.known != "" {
		bc.check(t, c, fail) // still there once the server is healthy?
	}
	if bc.known != "" {
		if len(known) == 0 {
			t.Errorf("the known bug %q no longer shows: drop the mark", bc.known)
		} else {
			t.Logf("KNOWN BUG (%s): %s", bc.known, strings.Join(known, "; "))
		}
	}
	badCheckpoint(t, c, t0)
	if !bc.reset && !badHas(t, c, "m0") {
		t.Errorf("m0 is gone after healing: the store was reset")
	}
}

// badPosition returns the store's position in team:bad.
func badPosition(t *testing.T, c *outpost.Client) protocol.Position {
	t.Helper()
	pos, err := outpost.StoreOf(c).SyncPositions(context.Background())
	if err != nil {
		t.Fatalf("positions: %v", err)
	}
	for _, p := range pos.Channels {
		if p.CID == badCID {
			return p.Position
		}
	}
	return protocol.Position{}
}

// badCheckpoint checks that the store still has its last sync time and
// that its position in team:bad did not move back before p0 (a reset
// refills it at the log's end, which is past p0 too).
func badCheckpoint(t *testing.T, c *outpost.Client, p0 protocol.Position) {
	t.Helper()
	if _, ok, err := outpost.StoreOf(c).LastSyncedAt(context.Background()); err != nil || !ok {
		t.Errorf("last sync time lost: %v, %v", ok, err)
	}
	if got := badPosition(t, c); got.Epoch != p0.Epoch || got.Seq < p0.Seq {
		t.Errorf("position moved back from %+v to %+v", p0, got)
	}
}

// badNotLost checks that the offline writes (the send of id, and a
// reaction to m1) are still in the outbox or reached the server.
func badNotLost(t *testing.T, c *outpost.Client, bs *badServer, id string, fail func(string, ...any)) {
	t.Helper()
	tasks, err := c.PendingTasks(context.Background())
	if err != nil {
		t.Errorf("pending tasks: %v", err)
		return
	}
	sendPending, reactPending := false, false
	for _, task := range tasks {
		sendPending = sendPending || (task.MessageID == id && task.Type == protocol.OpSendMessage)
		reactPending = reactPending || (task.MessageID == "m1" && task.Type == protocol.OpSendReaction)
	}
	fts, _ := c.FailedTasks(context.Background())
	if !sendPending && bs.stat(func(bs *badServer) int { return bs.sends[id] }) == 0 {
		t.Errorf("the offline send is neither pending nor on the server (failed list: %+v)", fts)
	}
	if !reactPending && bs.stat(func(bs *badServer) int { return bs.reacts["m1|like"] }) == 0 {
		fail("the offline reaction is neither pending nor on the server (failed list: %+v)", fts)
	}
}

// badNoGhost: a channel the user is not in does not show up in the store.
func badNoGhost(t *testing.T, c *outpost.Client, fail func(string, ...any)) {
	t.Helper()
	chs, _, err := c.Channels(context.Background(), offlinedb.ChannelsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chs {
		if ch.CID != badCID {
			fail("the store lists channel %s, which the user is not in", ch.CID)
		}
	}
	if _, err := outpost.StoreOf(c).Message(context.Background(), "g1"); err == nil {
		fail("the store holds message g1 of team:ghost")
	}
}
