package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// Limits on what a client may write.
const (
	maxMembersAdded = 100
)

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// change collects what a write transaction did: the events to fan out
// after commit and who gets them.
type change struct {
	srv    *Server
	tx     Tx
	events []Delivery
	// wrote is set once the change has touched the store, after which an
	// error must abort the whole transaction.
	wrote bool
}

// emit appends a stored event to cid's log: fill gets the event, with its
// position, to set the entities (whose Version is its seq). Its live
// recipients are the channel's members at its place in the log, read
// after fill: the members before it plus those it adds (a member.added's
// fill stores the member), and those it removes (a removal deletes the
// member after emit). Another node delivers it to the same users, from
// the store's membership spans (pgstore's follower).
func (c *change) emit(cid string, typ protocol.EventType, actor string, fill func(ev *protocol.Event) error) (protocol.Event, error) {
	c.wrote = true
	id := newEventID()
	pos, err := c.tx.NextPosition(cid, id)
	if err != nil {
		return protocol.Event{}, err
	}
	ev := protocol.Event{ID: id, Type: typ, CID: cid, Seq: pos.Seq, Epoch: pos.Epoch, CreatedAt: c.tx.Now(), UserID: actor}
	if err := fill(&ev); err != nil {
		return protocol.Event{}, err
	}
	if err := c.tx.AppendEvent(ev); err != nil {
		return protocol.Event{}, err
	}
	members, err := memberIDs(c.tx, cid)
	if err != nil {
		return protocol.Event{}, err
	}
	c.events = append(c.events, Delivery{Event: ev, Log: LogChannel(cid), Recipients: members})
	return ev, nil
}

// feed appends ev to user's membership feed, at the feed's next
// position, and delivers it to the user's connections.
func (c *change) feed(user string, ev protocol.Event) error {
	c.wrote = true
	id := newEventID()
	pos, err := c.tx.NextFeedPosition(user, id)
	if err != nil {
		return err
	}
	ev.ID, ev.Seq, ev.Epoch, ev.CreatedAt = id, pos.Seq, pos.Epoch, c.tx.Now()
	if err := c.tx.AppendFeedEvent(user, ev); err != nil {
		return err
	}
	c.events = append(c.events, Delivery{Event: ev, Log: LogFeed(user), Recipients: []string{user}})
	return nil
}

// notify fans out an event that is not stored.
func (c *change) notify(ev protocol.Event, recipients ...string) {
	ev.ID = newEventID()
	ev.CreatedAt = c.tx.Now()
	c.events = append(c.events, Delivery{Event: ev, Recipients: recipients})
}

func memberIDs(tx Tx, cid string) ([]string, error) { return tx.MemberIDs(cid) }

// Every write is an op, made in two steps. A plan function (planSendMessage
// and the like, one per write, in the file of its resource) checks the
// write's input, outside any transaction, and returns the op; runOp
// applies it in a write transaction, where it checks what needs the store
// (membership, roles, versions). A single-write endpoint decodes its
// request, plans the op and runs it with writeOp; POST /batch plans each
// of its ops with the same plan functions (batchOps) and runs them with
// runOp in one transaction.

// op is one write, its input checked: apply runs it in a write
// transaction and returns the answer, which is sent with status.
type op struct {
	status int
	key    string // idempotency key, "" for none
	apply  func(c *change) (any, error)
}

// write runs the op of status and fn, for an endpoint whose input needs
// no check of its own outside the transaction; see writeOp.
func (s *Server) write(w http.ResponseWriter, r *http.Request, user string, status int, fn func(c *change) (any, error)) error {
	return s.writeOp(w, r, user, op{status: status, apply: fn})
}

// writeBody answers a single write whose request body is a Req: it
// decodes the body and runs the op plan makes of it.
func writeBody[Req any](s *Server, w http.ResponseWriter, r *http.Request, user string, plan func(req Req) (op, error)) error {
	var req Req
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	return s.writePlanned(w, r, user)(plan(req))
}

// writePlanned returns the function that runs a planned op with writeOp,
// or answers with the plan's error: s.writePlanned(w, r, user)(planX(...)).
func (s *Server) writePlanned(w http.ResponseWriter, r *http.Request, user string) func(op, error) error {
	return func(o op, err error) error {
		if err != nil {
			return err
		}
		return s.writeOp(w, r, user, o)
	}
}

// writeOp runs o in one transaction and answers with its result. With an
// Idempotency-Key, a repeat of a write that committed answers with the
// stored result and changes nothing. Events fan out after the commit.
func (s *Server) writeOp(w http.ResponseWriter, r *http.Request, user string, o op) error {
	o.key = r.Header.Get(protocol.HeaderIdempotencyKey)
	if err := validKey(o.key); err != nil {
		return err
	}
	var result []byte
	err := s.update(r.Context(), func(tx Tx) ([]Delivery, error) {
		res, c, err := s.runOp(tx, user, o)
		if err != nil {
			return nil, err
		}
		result = res
		return c.events, nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(o.status)
	_, _ = w.Write(append(result, '\n'))
	return nil
}

func validKey(key string) error {
	if len(key) > 200 {
		return protocol.NewAPIError(protocol.CodeInput, "idempotency key is longer than 200 bytes")
	}
	return nil
}

// runOp runs o in tx and returns its answer as JSON and what it changed.
// A repeat of an op with a stored result returns that result and no
// change.
func (s *Server) runOp(tx Tx, user string, o op) ([]byte, *change, error) {
	c := &change{srv: s, tx: tx}
	if o.key != "" {
		stored, err := tx.IdempotentResult(user, o.key)
		if err == nil {
			stored, err = redactAnswer(tx, stored)
			return stored, c, err
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, c, err
		}
	}
	out, err := o.apply(c)
	if err != nil {
		return nil, c, err
	}
	result, err := json.Marshal(out)
	if err != nil {
		return nil, c, err
	}
	if o.key != "" {
		if err := tx.PutIdempotentResult(user, o.key, result); err != nil {
			return nil, c, err
		}
	}
	return result, c, nil
}

// update runs fn in a write transaction and publishes its events after
// the commit, from this goroutine. Nothing is held across commit and
// publish: the broker puts each log's events back in seq order.
func (s *Server) update(ctx context.Context, fn func(tx Tx) ([]Delivery, error)) error {
	var events []Delivery
	start := time.Now()
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		events, err = fn(tx)
		return err
	})
	s.metrics.observeStore("update", start)
	if err != nil {
		return err
	}
	for _, d := range events {
		if d.Log != "" {
			s.metrics.eventsAppend.Inc()
		}
	}
	if len(events) > 0 {
		s.broker.Publish(events)
	}
	return nil
}

// view runs fn in a snapshot.
func (s *Server) view(ctx context.Context, fn func(tx Tx) error) error {
	defer s.metrics.observeStore("view", time.Now())
	return s.store.View(ctx, fn)
}

// viewJSON answers a read: fn runs in a snapshot, and its answer is sent
// with status 200.
func viewJSON[T any](s *Server, w http.ResponseWriter, r *http.Request, fn func(tx Tx) (T, error)) error {
	var out T
	err := s.view(r.Context(), func(tx Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// channelFor returns cid's channel if user is a member: 404 when it does
// not exist, 403 when the user is not in it.
func channelFor(tx Tx, cid, user string) (protocol.Channel, error) {
	ch, _, err := channelMember(tx, cid, user)
	return ch, err
}

// channelMember is channelFor that also returns the user's membership.
func channelMember(tx Tx, cid, user string) (protocol.Channel, protocol.Member, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return protocol.Channel{}, protocol.Member{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	ch, err := tx.Channel(cid)
	if errors.Is(err, ErrNotFound) {
		return ch, protocol.Member{}, protocol.NewAPIError(protocol.CodeNotFound, "channel %s does not exist", cid)
	}
	if err != nil {
		return ch, protocol.Member{}, err
	}
	if ch.DeletedAt != nil {
		return ch, protocol.Member{}, protocol.NewAPIError(protocol.CodeNotFound, "channel %s was deleted", cid)
	}
	m, err := tx.Member(cid, user)
	if errors.Is(err, ErrNotFound) {
		return ch, m, protocol.NewAPIError(protocol.CodeNotAllowed, "you are not a member of %s", cid)
	}
	return ch, m, err
}

// messageFor returns a message in a channel the user is a member of.
func messageFor(tx Tx, id, user string) (protocol.Message, protocol.Channel, error) {
	if err := protocol.ValidateID("message id", id); err != nil {
		return protocol.Message{}, protocol.Channel{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	m, err := tx.Message(id)
	if errors.Is(err, ErrNotFound) {
		return m, protocol.Channel{}, protocol.NewAPIError(protocol.CodeNotFound, "message %s does not exist", id)
	}
	if err != nil {
		return m, protocol.Channel{}, err
	}
	ch, err := channelFor(tx, m.CID, user)
	if err != nil {
		if ae, ok := protocol.AsAPIError(err); ok && ae.Code == protocol.CodeNotAllowed {
			// Do not tell a non-member which channel holds the message.
			return m, ch, protocol.NewAPIError(protocol.CodeNotFound, "message %s does not exist", id)
		}
	}
	return m, ch, err
}

// ensureUser makes a user row for an id seen for the first time.
func ensureUser(tx Tx, id string) (protocol.User, error) {
	u, err := tx.User(id)
	if errors.Is(err, ErrNotFound) {
		u = protocol.User{ID: id, CreatedAt: tx.Now(), UpdatedAt: tx.Now(), Version: 1}
		return u, tx.PutUser(u)
	}
	return u, err
}

// channelState reads a channel's state, with the position of its log in
// the same snapshot: a client that stores the state syncs from there.
func channelState(tx Tx, ch protocol.Channel, messageLimit int) (protocol.ChannelResponse, error) {
	members, err := tx.Members(ch.CID)
	if err != nil {
		return protocol.ChannelResponse{}, err
	}
	msgs, err := tx.Messages(ch.CID, MessagesPage{Limit: messageLimit})
	if err != nil {
		return protocol.ChannelResponse{}, err
	}
	var reactions []protocol.Reaction
	for _, m := range msgs {
		rs, err := tx.Reactions(m.ID)
		if err != nil {
			return protocol.ChannelResponse{}, err
		}
		reactions = append(reactions, rs...)
	}
	reads, err := tx.Reads(ch.CID)
	if err != nil {
		return protocol.ChannelResponse{}, err
	}
	st, err := tx.ChannelLog(ch.CID)
	if err != nil {
		return protocol.ChannelResponse{}, err
	}
	pos := head(st)
	from := int64(1) // all of them: the history from its start
	if len(msgs) == messageLimit {
		from = msgs[0].Seq
	}
	return protocol.ChannelResponse{Channel: ch, Members: nonNil(members), Messages: nonNil(msgs), Reads: nonNil(reads),
		Reactions: reactions, Position: &pos, MessagesFrom: from}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func uniqueIDs(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
