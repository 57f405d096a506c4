package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/outpostsync/outpost/internal/sse"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/token"
)

// Event types of a stream's control events. Log and live events go out as
// unnamed ("message") events whose data is the protocol.Event.
const (
	// streamReset: the stream cannot continue from the client's position
	// in a channel (none given, another epoch, pruned past it, beyond the
	// log's end). The client refetches the channel; the stream goes on
	// from the position the reset carries.
	streamReset = "reset"
	// streamInaccessible: the user may not read the channel (not a
	// member, no such channel, or removed from it); the stream drops it.
	streamInaccessible = "inaccessible"
	// streamExpired: the token expired; the stream ends.
	streamExpired = "expired"
)

// Reasons of a reset event.
const (
	resetNoPosition = "no_position"
	resetEpoch      = "epoch"
	resetPruned     = "pruned"
	resetAhead      = "ahead"
)

// streamControl is the data of a control event.
type streamControl struct {
	CID      string             `json:"cid,omitempty"`
	Reason   string             `json:"reason,omitempty"`
	Position *protocol.Position `json:"position,omitempty"`
}

// eventsParams are the query parameters GET /events takes.
var eventsParams = map[string]bool{"cid": true, "last_event_id": true, "access_token": true, "token": true}

// handleEvents serves GET /events: the events of the user's channels as
// Server-Sent Events. The stream starts after the client's position
// (Last-Event-ID, or the last_event_id parameter on a first connect),
// replaying the log, then goes live. Its own authentication also takes
// the token from the access_token parameter or the session cookie,
// since EventSource cannot set headers.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	user, expires, err := s.streamUser(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.newStream(r, user, expires)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := newWSConn(newEventID(), user, s.cfg.SendBuffer)
	if !s.hub.add(c) {
		writeError(w, &protocol.APIError{Code: protocol.CodeInternal, StatusCode: http.StatusServiceUnavailable,
			Message: "server shutting down"})
		return
	}
	s.streams.Add(1)
	st.conn = c
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if cc := hijackChunked(w, r, func() { c.kill(0, "client went away") }); cc != nil {
		// The stream runs on in goroutines of its own, and the handler
		// returns: net/http then lets go of the request, its buffers and
		// the deep stack of the goroutine that served it (see
		// docs/BENCHMARKS.md, BenchmarkFanoutScale). The client leaving
		// kills c, which ends run.
		closed := detachRequest(r)
		st.dst = cc
		go func() {
			defer s.endStream(c) // last: Server.Close waits for it
			defer closed()
			st.run(s.ctx)
			cc.close()
		}()
		return
	}
	defer s.endStream(c)
	st.dst = &flushWriter{w: w, rc: http.NewResponseController(w)}
	st.run(r.Context())
}

// endStream counts a stream's end and takes its connection out of the hub.
func (s *Server) endStream(c *wsConn) {
	// After kill returns, the first kill's reason is set and visible.
	c.kill(0, "stream ended")
	if c.reason == slowConsumer {
		s.metrics.cutoffs.WithLabelValues("sse").Inc()
	}
	s.streams.Add(-1)
	s.hub.remove(c)
}

// streamUser authenticates a stream: the Authorization header, the
// access_token (or token) parameter, or the session cookie. A cookie is
// taken only from the server's own origin or an allowed one (ServeHTTP
// has refused any other Origin), and it is SameSite=Strict, so another
// site cannot open a stream in the user's name.
func (s *Server) streamUser(r *http.Request) (string, time.Time, error) {
	tok := strings.TrimPrefix(r.Header.Get(protocol.HeaderAuthorization), "Bearer ")
	if tok == "" {
		tok = r.URL.Query().Get("access_token")
	}
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" {
		if ck, err := r.Cookie(sessionCookie); err == nil {
			// "none": the user opened the URL; "same-site": a sibling
			// host, whose Origin ServeHTTP has checked.
			if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
				if !s.originListed(r) {
					return "", time.Time{}, protocol.NewAPIError(protocol.CodeNotAllowed, "the session cookie is not accepted from another site")
				}
			}
			tok = ck.Value
		}
	}
	if tok == "" {
		return "", time.Time{}, protocol.NewAPIError(protocol.CodeAuth,
			"missing token: send Authorization: Bearer <token>, the access_token parameter, or sign in (POST /session)")
	}
	user, exp, err := token.VerifyExpiry(s.cfg.Secret, tok, s.cfg.Now())
	switch {
	case errors.Is(err, token.ErrExpired):
		return "", time.Time{}, protocol.NewAPIError(protocol.CodeTokenExpired, "token expired")
	case err != nil:
		return "", time.Time{}, protocol.NewAPIError(protocol.CodeAuth, "invalid token")
	}
	if perr := protocol.ValidateID("token user", user); perr != nil {
		return "", time.Time{}, protocol.NewAPIError(protocol.CodeAuth, "invalid token: %v", perr)
	}
	setRequestUser(r, user)
	return user, exp, nil
}

// stream is one GET /events connection.
type stream struct {
	s       *Server
	user    string
	expires time.Time // zero: never
	// cur is where the stream stands in each of its channels; known
	// marks the channels whose position came from the client.
	cur   sse.Cursor
	known map[string]bool
	holed map[string]bool // channels whose replay met a pruned hole
	// followsJoins: the stream follows the user's channels (none was
	// named), so a channel the user joins meanwhile joins the stream.
	followsJoins bool

	conn *wsConn
	dst  streamWriter
	// buf holds what is queued for the next flush, appended to
	// buffer(); bufp is its box in streamBuffers. Both are nil between
	// flushes.
	buf  []byte
	bufp *[]byte
}

// newStream reads the request: its channels and the client's position.
// A malformed position or channel id is a 400; a position of channels the
// stream does not follow is ignored, and a followed channel without one
// starts with a reset.
func (s *Server) newStream(r *http.Request, user string, expires time.Time) (*stream, error) {
	q := r.URL.Query()
	for name := range q {
		if !eventsParams[name] {
			return nil, protocol.NewAPIError(protocol.CodeInput, "unknown query parameter %q", name)
		}
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("last_event_id")
	}
	from, err := sse.ParseCursor(last, protocol.ValidateCID)
	if err != nil {
		return nil, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	cids := q["cid"]
	if len(cids) > sse.MaxChannels {
		return nil, protocol.NewAPIError(protocol.CodeInput, "at most %d cid parameters", sse.MaxChannels)
	}
	for _, cid := range cids {
		if err := protocol.ValidateCID(cid); err != nil {
			return nil, protocol.NewAPIError(protocol.CodeInput, "cid: %v", err)
		}
	}
	cids = uniqueIDs(cids)
	switch {
	case len(cids) > 0:
	case len(from) > 0:
		for _, p := range from {
			cids = append(cids, p.CID)
		}
	default:
		// No channels named: the user's most recently active ones.
		err := s.view(r.Context(), func(tx Tx) error {
			chs, err := tx.UserChannels(user, sse.MaxChannels, 0)
			cids = cids[:0]
			for _, ch := range chs {
				cids = append(cids, ch.CID)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	st := &stream{s: s, user: user, expires: expires, known: map[string]bool{}, holed: map[string]bool{}, followsJoins: len(q["cid"]) == 0}
	for _, cid := range cids {
		p := sse.Pos{CID: cid}
		if i := from.Find(cid); i >= 0 {
			p = from[i]
			st.known[cid] = true
		}
		st.cur = append(st.cur, p)
	}
	return st, nil
}

// run replays each channel from the client's position, then sends live
// events until the client goes, the token expires, the server closes, or
// the client reads too slowly (the hub cuts it off, or a write times out).
// The stream is registered with the hub before the replay reads the log,
// so an event is either in the log the replay reads or queued behind it;
// events queued that the replay already sent are skipped by seq.
func (st *stream) run(ctx context.Context) {
	s := st.s
	st.buf = sse.AppendRetry(st.buffer(), s.cfg.StreamRetry)
	if !st.flush() {
		return
	}
	for _, cid := range st.cids() {
		if !st.replay(ctx, cid) {
			return
		}
	}
	heartbeat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	var expired <-chan time.Time
	if !st.expires.IsZero() {
		t := time.NewTimer(st.expires.Sub(s.cfg.Now()))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-st.conn.ready:
			// Send what is queued, up to 64 KiB a write.
			for data, more := st.conn.next(); more; data, more = st.conn.next() {
				if !st.live(ctx, data) {
					return
				}
				if len(st.buf) >= 64<<10 {
					if !st.flush() {
						return
					}
				}
			}
			if !st.flush() {
				return
			}
		case <-heartbeat.C:
			st.buf = sse.AppendComment(st.buffer(), "ping")
			if !st.flush() {
				return
			}
		case <-expired:
			st.control(streamExpired, streamControl{Reason: "token expired: sign in again"})
			st.flush()
			return
		case <-st.conn.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (st *stream) cids() []string {
	out := make([]string, len(st.cur))
	for i, p := range st.cur {
		out[i] = p.CID
	}
	return out
}

// replay sends cid's events from the log after the stream's position in
// it, a page per snapshot, or a reset when that position cannot be
// continued. It returns false when the stream must end.
func (st *stream) replay(ctx context.Context, cid string) bool {
	s := st.s
	for {
		i := st.cur.Find(cid)
		if i < 0 {
			return true
		}
		p := st.cur[i]
		var (
			evs    []StoredEvent
			log    LogState
			member bool
			reset  string
		)
		err := s.view(ctx, func(tx Tx) error {
			evs, reset, member = nil, "", false
			_, err := tx.Member(cid, st.user)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			member = true
			if log, err = tx.ChannelLog(cid); err != nil {
				return err
			}
			switch {
			case st.holed[cid]:
				reset = resetPruned
			case !st.known[cid]:
				reset = resetNoPosition
			case p.Epoch != log.Epoch:
				reset = resetEpoch
			case p.Seq < log.PrunedSeq:
				reset = resetPruned
			case p.Seq > log.LastSeq:
				reset = resetAhead
			}
			if reset != "" {
				return nil
			}
			evs, err = tx.ChannelEvents(cid, p.Seq, s.cfg.StreamReplayPage)
			return err
		})
		if errors.Is(err, ErrNotFound) {
			member = false
		} else if err != nil {
			if ctx.Err() == nil {
				s.log.Error("server: stream replay failed", "cid", cid, "error", err)
			}
			return false
		}
		switch {
		case !member:
			st.drop(cid, "not a member, or no such channel")
			return st.flush()
		case reset != "":
			st.cur[i] = sse.Pos{CID: cid, Epoch: log.Epoch, Seq: log.LastSeq}
			st.known[cid], st.holed[cid] = true, false
			st.control(streamReset, streamControl{CID: cid, Reason: reset,
				Position: &protocol.Position{Epoch: log.Epoch, Seq: log.LastSeq}})
			s.metrics.streamResets.Inc()
			return st.flush()
		}
		for _, e := range evs {
			if e.Seq != st.cur[i].Seq+1 {
				// A hole in the log: pruned while the replay read it.
				st.holed[cid] = true
				break
			}
			st.cur[i].Seq = e.Seq
			st.buf = sse.AppendEvent(st.buffer(), st.cur.String(), "", e.Payload)
		}
		s.metrics.streamEvents.WithLabelValues("replay").Add(float64(len(evs)))
		if !st.flush() {
			return false
		}
		if st.holed[cid] {
			continue // answer the hole with a reset
		}
		if len(evs) < s.cfg.StreamReplayPage {
			return true
		}
	}
}

// live handles one event from the hub: an event of a channel the stream
// does not follow is skipped, one the stream has sent already too; a gap
// is filled from the log. Ephemeral events go out without an id, so they
// do not move the client's position.
func (st *stream) live(ctx context.Context, data []byte) bool {
	var ev struct {
		Type   protocol.EventType `json:"type"`
		CID    string             `json:"cid"`
		Seq    int64              `json:"seq"`
		Epoch  string             `json:"epoch"`
		Member *struct {
			UserID string `json:"user_id"`
		} `json:"member"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return true
	}
	i := st.cur.Find(ev.CID)
	if i < 0 {
		if ev.Type == protocol.EventNotificationAddedToChannel && st.followsJoins && len(st.cur) < sse.MaxChannels {
			return st.join(ctx, ev.CID, data)
		}
		return true
	}
	if ev.Seq == 0 || ev.Type.InFeed() {
		// Not in the channel's log: an ephemeral event, or one of the
		// user's membership feed (its seq is a place in the feed).
		st.buf = sse.AppendEvent(st.buffer(), "", "", data)
		st.s.metrics.streamEvents.WithLabelValues("live").Inc()
		if ev.Type == protocol.EventNotificationRemovedFromChannel {
			st.drop(ev.CID, "removed from the channel")
		}
		return true
	}
	p := st.cur[i]
	switch {
	case ev.Epoch != p.Epoch || ev.Seq > p.Seq+1:
		if !st.flush() {
			return false
		}
		return st.replay(ctx, ev.CID)
	case ev.Seq <= p.Seq:
		return true
	}
	st.cur[i].Seq = ev.Seq
	st.buf = sse.AppendEvent(st.buffer(), st.cur.String(), "", data)
	st.s.metrics.streamEvents.WithLabelValues("live").Inc()
	if ev.Type == protocol.EventMemberRemoved && ev.Member != nil && ev.Member.UserID == st.user {
		st.drop(ev.CID, "removed from the channel")
	}
	return true
}

// join takes into the stream a channel the user joined while it is
// open: the feed's notification goes out live, then the channel starts
// as one without a position does, with a reset (replay).
func (st *stream) join(ctx context.Context, cid string, notification []byte) bool {
	st.buf = sse.AppendEvent(st.buffer(), "", "", notification)
	st.s.metrics.streamEvents.WithLabelValues("live").Inc()
	st.cur = append(st.cur, sse.Pos{CID: cid})
	delete(st.known, cid)
	delete(st.holed, cid)
	if !st.flush() {
		return false
	}
	return st.replay(ctx, cid)
}

// drop takes cid out of the stream and tells the client, once.
func (st *stream) drop(cid, reason string) {
	i := st.cur.Find(cid)
	if i < 0 {
		return
	}
	st.cur = append(st.cur[:i:i], st.cur[i+1:]...)
	st.control(streamInaccessible, streamControl{CID: cid, Reason: reason})
}

// control queues a control event. Its id is the stream's position, so a
// reconnect continues after it.
func (st *stream) control(typ string, c streamControl) {
	data, _ := json.Marshal(c)
	st.buf = sse.AppendEvent(st.buffer(), st.cur.String(), typ, data)
}

// streamKeepBuffer bounds the buffers streams put back in streamBuffers:
// enough for live events, which come a few at a time; a larger one, grown
// by a replay page or a burst, is let go.
const streamKeepBuffer = 4 << 10

// streamBuffers holds the buffers streams queue their bytes in between
// two flushes, so that an idle stream holds none.
var streamBuffers = sync.Pool{New: func() any { return new([]byte) }}

// buffer returns the stream's queue, taking a buffer from streamBuffers
// when it has none.
func (st *stream) buffer() []byte {
	if st.bufp == nil {
		st.bufp = streamBuffers.Get().(*[]byte)
		st.buf = (*st.bufp)[:0]
	}
	return st.buf
}

// flush writes what is queued, within the write timeout. It returns false
// when the client is gone or too slow.
func (st *stream) flush() bool {
	if len(st.buf) == 0 {
		return true
	}
	err := st.dst.write(st.buf, time.Now().Add(st.s.cfg.StreamWriteTimeout))
	if st.bufp != nil && cap(st.buf) <= streamKeepBuffer {
		*st.bufp = st.buf[:0]
		streamBuffers.Put(st.bufp)
	}
	st.buf, st.bufp = nil, nil
	if err != nil {
		st.conn.kill(0, "write failed")
		return false
	}
	return true
}

// streamWriter sends a stream's bytes to its client.
type streamWriter interface {
	// write sends p, all of it, by deadline.
	write(p []byte, deadline time.Time) error
}

// flushWriter writes a stream through net/http's ResponseWriter: the
// streams that hijackChunked cannot take over.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (fw *flushWriter) write(p []byte, deadline time.Time) error {
	_ = fw.rc.SetWriteDeadline(deadline)
	if _, err := fw.w.Write(p); err != nil {
		return err
	}
	return fw.rc.Flush()
}
