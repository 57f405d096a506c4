package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/outpostsync/outpost/protocol"
)

func (s *Server) handleCreateChannel(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.CreateChannelRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := protocol.ValidateID("type", req.Type); err != nil {
		return protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	if err := protocol.ValidateID("id", req.ID); err != nil {
		return protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	if err := validExtra(req.Extra); err != nil {
		return err
	}
	if len(req.Members) > maxMembersAdded {
		return protocol.NewAPIError(protocol.CodeInput, "at most %d members at once", maxMembersAdded)
	}
	for _, m := range req.Members {
		if err := protocol.ValidateID("member", m); err != nil {
			return protocol.NewAPIError(protocol.CodeInput, "%v", err)
		}
	}
	cid := protocol.CID(req.Type, req.ID)
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		if ch, err := c.tx.Channel(cid); err == nil {
			// Creating an existing channel returns it, to its members.
			if _, err := c.tx.Member(cid, user); err != nil {
				return nil, protocol.NewAPIError(protocol.CodeNotAllowed, "channel %s exists and you are not a member", cid)
			}
			return channelState(c.tx, ch, 50)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		now := c.tx.Now()
		ch := protocol.Channel{CID: cid, Type: req.Type, ID: req.ID, Name: req.Name, CreatedBy: user,
			CreatedAt: now, UpdatedAt: now, Extra: req.Extra}
		if err := c.tx.PutChannel(ch); err != nil { // the row NextSeq counts in
			return nil, err
		}
		if _, err := c.emit(cid, protocol.EventChannelCreated, user, func(ev *protocol.Event) error {
			ch.Version = ev.Seq
			ev.Channel = &ch
			return c.tx.PutChannel(ch)
		}); err != nil {
			return nil, err
		}
		for _, id := range uniqueIDs(append(req.Members, user)) {
			if err := s.addMember(c, &ch, id, user); err != nil {
				return nil, err
			}
		}
		return channelState(c.tx, ch, 50)
	})
}

// addMember adds id to ch (a no-op if it is a member) with its events.
func (s *Server) addMember(c *change, ch *protocol.Channel, id, actor string) error {
	if _, err := c.tx.Member(ch.CID, id); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	u, err := ensureUser(c.tx, id)
	if err != nil {
		return err
	}
	now := c.tx.Now()
	m := protocol.Member{CID: ch.CID, UserID: id, Role: "member", CreatedAt: now, UpdatedAt: now, User: &u}
	if id == ch.CreatedBy {
		m.Role = "owner"
	}
	ev, err := c.emit(ch.CID, protocol.EventMemberAdded, actor, func(ev *protocol.Event) error {
		m.Version = ev.Seq
		ch.MemberCount++
		ch.Version, ch.UpdatedAt = ev.Seq, now
		ev.Member, ev.Channel = &m, ch
		if err := c.tx.PutMember(m); err != nil {
			return err
		}
		return c.tx.PutChannel(*ch)
	})
	if err != nil {
		return err
	}
	c.notify(protocol.Event{Type: protocol.EventNotificationAddedToChannel, CID: ch.CID, Seq: ev.Seq, UserID: actor,
		Member: ev.Member, Channel: ev.Channel}, id)
	return nil
}

func (s *Server) handleGetChannel(w http.ResponseWriter, r *http.Request, user string) error {
	var resp protocol.ChannelResponse
	err := s.view(r.Context(), func(tx Tx) error {
		ch, err := channelFor(tx, r.PathValue("cid"), user)
		if err != nil {
			return err
		}
		resp, err = channelState(tx, ch, 50)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) handleQueryChannels(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.QueryChannelsRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	limit, err := boundedInt("limit", req.Limit, 20, 100)
	if err != nil {
		return err
	}
	msgLimit, err := boundedInt("message_limit", req.MessageLimit, 20, 200)
	if err != nil {
		return err
	}
	if req.Offset < 0 {
		return protocol.NewAPIError(protocol.CodeInput, "offset is negative")
	}
	// The watermark is taken before the state is read: a sync from it
	// repeats what this answer holds, and misses nothing.
	w0, err := s.store.Watermark(r.Context())
	if err != nil {
		return err
	}
	resp := protocol.QueryChannelsResponse{Channels: []protocol.ChannelResponse{}, SyncedAt: w0}
	err = s.view(r.Context(), func(tx Tx) error {
		chs, err := tx.UserChannels(user, limit, req.Offset)
		if err != nil {
			return err
		}
		for _, ch := range chs {
			st, err := channelState(tx, ch, msgLimit)
			if err != nil {
				return err
			}
			resp.Channels = append(resp.Channels, st)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func boundedInt(name string, v, def, maxV int) (int, error) {
	switch {
	case v < 0:
		return 0, protocol.NewAPIError(protocol.CodeInput, "%s is negative", name)
	case v == 0:
		return def, nil
	case v > maxV:
		return 0, protocol.NewAPIError(protocol.CodeInput, "%s is over %d", name, maxV)
	}
	return v, nil
}

func (s *Server) handleAddMembers(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.AddMembersRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if len(req.UserIDs) == 0 || len(req.UserIDs) > maxMembersAdded {
		return protocol.NewAPIError(protocol.CodeInput, "user_ids must hold 1 to %d ids", maxMembersAdded)
	}
	for _, id := range req.UserIDs {
		if err := protocol.ValidateID("user_ids", id); err != nil {
			return protocol.NewAPIError(protocol.CodeInput, "%v", err)
		}
	}
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		ch, err := channelFor(c.tx, r.PathValue("cid"), user)
		if err != nil {
			return nil, err
		}
		for _, id := range uniqueIDs(req.UserIDs) {
			if err := s.addMember(c, &ch, id, user); err != nil {
				return nil, err
			}
		}
		members, err := c.tx.Members(ch.CID)
		return protocol.MembersResponse{Channel: ch, Members: nonNil(members)}, err
	})
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request, user string) error {
	target := r.PathValue("user_id")
	if err := protocol.ValidateID("user_id", target); err != nil {
		return protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		ch, err := channelFor(c.tx, r.PathValue("cid"), user)
		if err != nil {
			return nil, err
		}
		m, err := c.tx.Member(ch.CID, target)
		if errors.Is(err, ErrNotFound) {
			return nil, protocol.NewAPIError(protocol.CodeNotFound, "%s is not a member of %s", target, ch.CID)
		}
		if err != nil {
			return nil, err
		}
		now := c.tx.Now()
		// The removed user gets the event too, then the notification.
		ev, err := c.emit(ch.CID, protocol.EventMemberRemoved, user, func(ev *protocol.Event) error {
			m.Version, m.UpdatedAt = ev.Seq, now
			ch.MemberCount--
			ch.Version, ch.UpdatedAt = ev.Seq, now
			ev.Member, ev.Channel = &m, &ch
			return c.tx.PutChannel(ch)
		})
		if err != nil {
			return nil, err
		}
		if err := c.tx.DeleteMember(ch.CID, target); err != nil {
			return nil, err
		}
		c.notify(protocol.Event{Type: protocol.EventNotificationRemovedFromChannel, CID: ch.CID, Seq: ev.Seq, UserID: user,
			Member: ev.Member, Channel: ev.Channel}, target)
		members, err := c.tx.Members(ch.CID)
		return protocol.MembersResponse{Channel: ch, Members: nonNil(members)}, err
	})
}

func validText(text string) error {
	if strings.TrimSpace(text) == "" {
		return protocol.NewAPIError(protocol.CodeInput, "text is empty")
	}
	if len(text) > MaxTextBytes {
		return protocol.NewAPIError(protocol.CodeInput, "text is over %d bytes", MaxTextBytes)
	}
	return nil
}

func (s *Server) handleSendMessage(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.SendMessageRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	o, err := planSendMessage(user, r.PathValue("cid"), req)
	if err != nil {
		return err
	}
	return s.writeOp(w, r, user, o)
}

func planSendMessage(user, cid string, req protocol.SendMessageRequest) (op, error) {
	in := req.Message
	if err := protocol.ValidateID("message.id", in.ID); err != nil {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	if err := validText(in.Text); err != nil {
		return op{}, err
	}
	if err := validExtra(in.Extra); err != nil {
		return op{}, err
	}
	if in.ParentID != "" {
		if err := protocol.ValidateID("message.parent_id", in.ParentID); err != nil {
			return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
		}
	}
	return op{status: http.StatusCreated, apply: func(c *change) (any, error) {
		ch, err := channelFor(c.tx, cid, user)
		if err != nil {
			return nil, err
		}
		if old, err := c.tx.Message(in.ID); err == nil {
			// A repeat of a send that was applied: the stored message,
			// and no second event.
			if old.CID != ch.CID || old.UserID != user {
				return nil, protocol.NewAPIError(protocol.CodeConflict, "message id %s is taken", in.ID)
			}
			return protocol.MessageResponse{Message: old}, nil
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if _, err := c.tx.IdempotentResult("", "deleted:"+in.ID); err == nil {
			return nil, protocol.NewAPIError(protocol.CodeNotFound, "message %s was deleted", in.ID)
		}
		now := c.tx.Now()
		m := protocol.Message{ID: in.ID, CID: ch.CID, UserID: user, Text: in.Text, ParentID: in.ParentID,
			CreatedAt: now, UpdatedAt: now, Extra: in.Extra}
		_, err = c.emit(ch.CID, protocol.EventMessageNew, user, func(ev *protocol.Event) error {
			m.Version = ev.Seq
			ev.Message = &m
			return c.tx.PutMessage(m)
		})
		if err != nil {
			return nil, err
		}
		ch.LastMessageAt = &now
		if err := c.tx.PutChannel(ch); err != nil {
			return nil, err
		}
		return protocol.MessageResponse{Message: m}, nil
	}}, nil
}

func (s *Server) handleQueryMessages(w http.ResponseWriter, r *http.Request, user string) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return protocol.NewAPIError(protocol.CodeInput, "limit is not a number")
		}
		limit = n
	}
	limit, err := boundedInt("limit", limit, 50, 200)
	if err != nil {
		return err
	}
	var resp protocol.MessagesResponse
	err = s.view(r.Context(), func(tx Tx) error {
		ch, err := channelFor(tx, r.PathValue("cid"), user)
		if err != nil {
			return err
		}
		page := MessagesPage{Limit: limit}
		for name, dst := range map[string]**protocol.Message{"before": &page.Before, "after": &page.After} {
			id := q.Get(name)
			if id == "" {
				continue
			}
			m, err := tx.Message(id)
			if err != nil || m.CID != ch.CID {
				return protocol.NewAPIError(protocol.CodeInput, "%s: no message %q in this channel", name, id)
			}
			*dst = &m
		}
		if page.Before != nil && page.After != nil {
			return protocol.NewAPIError(protocol.CodeInput, "give before or after, not both")
		}
		msgs, err := tx.Messages(ch.CID, page)
		resp.Messages = nonNil(msgs)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// ownMessage returns a message the user wrote, in a channel they are in.
func ownMessage(tx Tx, id, user string) (protocol.Message, protocol.Channel, error) {
	m, ch, err := messageFor(tx, id, user)
	if err != nil {
		return m, ch, err
	}
	if m.UserID != user {
		return m, ch, protocol.NewAPIError(protocol.CodeNotAllowed, "only the author may change message %s", id)
	}
	return m, ch, nil
}

func (s *Server) handleUpdateMessage(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.UpdateMessageRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	o, err := planUpdateMessage(user, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return s.writeOp(w, r, user, o)
}

func planUpdateMessage(user, id string, req protocol.UpdateMessageRequest) (op, error) {
	if err := validText(req.Text); err != nil {
		return op{}, err
	}
	if err := validExtra(req.Extra); err != nil {
		return op{}, err
	}
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		m, ch, err := ownMessage(c.tx, id, user)
		if err != nil {
			return nil, err
		}
		_, err = c.emit(ch.CID, protocol.EventMessageUpdated, user, func(ev *protocol.Event) error {
			m.Text, m.UpdatedAt, m.Version = req.Text, c.tx.Now(), ev.Seq
			if len(req.Extra) > 0 {
				m.Extra = req.Extra
			}
			ev.Message = &m
			return c.tx.PutMessage(m)
		})
		return protocol.MessageResponse{Message: m}, err
	}}, nil
}

func (s *Server) handleDeleteMessage(w http.ResponseWriter, r *http.Request, user string) error {
	hard := false
	if v := r.URL.Query().Get("hard"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return protocol.NewAPIError(protocol.CodeInput, "hard must be true or false")
		}
		hard = b
	}
	return s.writeOp(w, r, user, planDeleteMessage(user, r.PathValue("id"), hard))
}

func planDeleteMessage(user, id string, hard bool) op {
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		m, ch, err := ownMessage(c.tx, id, user)
		if err != nil {
			return nil, err
		}
		if m.DeletedAt != nil && !hard {
			return protocol.MessageResponse{Message: m}, nil // already deleted
		}
		now := c.tx.Now()
		_, err = c.emit(ch.CID, protocol.EventMessageDeleted, user, func(ev *protocol.Event) error {
			m.DeletedAt, m.UpdatedAt, m.Version = &now, now, ev.Seq
			ev.Message, ev.HardDelete = &m, hard
			if hard {
				if err := c.tx.PutIdempotentResult("", "deleted:"+m.ID, []byte(`{}`)); err != nil {
					return err
				}
				return c.tx.DeleteMessage(m.ID)
			}
			return c.tx.PutMessage(m)
		})
		return protocol.MessageResponse{Message: m}, err
	}}
}

func (s *Server) handleUndeleteMessage(w http.ResponseWriter, r *http.Request, user string) error {
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		m, ch, err := ownMessage(c.tx, r.PathValue("id"), user)
		if err != nil {
			return nil, err
		}
		if m.DeletedAt == nil {
			return protocol.MessageResponse{Message: m}, nil
		}
		_, err = c.emit(ch.CID, protocol.EventMessageUndeleted, user, func(ev *protocol.Event) error {
			m.DeletedAt, m.UpdatedAt, m.Version = nil, c.tx.Now(), ev.Seq
			ev.Message = &m
			return c.tx.PutMessage(m)
		})
		return protocol.MessageResponse{Message: m}, err
	})
}

func (s *Server) handleSendReaction(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.SendReactionRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	o, err := planSendReaction(user, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return s.writeOp(w, r, user, o)
}

func planSendReaction(user, id string, req protocol.SendReactionRequest) (op, error) {
	if err := protocol.ValidateID("type", req.Type); err != nil {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	if err := validExtra(req.Extra); err != nil {
		return op{}, err
	}
	return op{status: http.StatusCreated, apply: func(c *change) (any, error) {
		m, ch, err := messageFor(c.tx, id, user)
		if err != nil {
			return nil, err
		}
		now := c.tx.Now()
		typ := protocol.EventReactionNew
		rc, err := c.tx.Reaction(m.ID, user, req.Type)
		switch {
		case err == nil:
			typ = protocol.EventReactionUpdated
		case errors.Is(err, ErrNotFound):
			rc = protocol.Reaction{MessageID: m.ID, CID: ch.CID, UserID: user, Type: req.Type, CreatedAt: now}
		default:
			return nil, err
		}
		_, err = c.emit(ch.CID, typ, user, func(ev *protocol.Event) error {
			rc.Score, rc.Extra, rc.UpdatedAt, rc.Version = req.Score, req.Extra, now, ev.Seq
			if err := c.tx.PutReaction(rc); err != nil {
				return err
			}
			return recountReactions(c.tx, ev, &m, &rc)
		})
		return protocol.ReactionResponse{Message: m, Reaction: rc}, err
	}}, nil
}

func (s *Server) handleDeleteReaction(w http.ResponseWriter, r *http.Request, user string) error {
	o, err := planDeleteReaction(user, r.PathValue("id"), r.PathValue("type"))
	if err != nil {
		return err
	}
	return s.writeOp(w, r, user, o)
}

func planDeleteReaction(user, id, typ string) (op, error) {
	if err := protocol.ValidateID("type", typ); err != nil {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		m, ch, err := messageFor(c.tx, id, user)
		if err != nil {
			return nil, err
		}
		rc, err := c.tx.Reaction(m.ID, user, typ)
		if errors.Is(err, ErrNotFound) {
			return nil, protocol.NewAPIError(protocol.CodeNotFound, "no %s reaction of yours on %s", typ, m.ID)
		}
		if err != nil {
			return nil, err
		}
		_, err = c.emit(ch.CID, protocol.EventReactionDeleted, user, func(ev *protocol.Event) error {
			rc.Version, rc.UpdatedAt = ev.Seq, c.tx.Now()
			if err := c.tx.DeleteReaction(m.ID, user, typ); err != nil {
				return err
			}
			return recountReactions(c.tx, ev, &m, &rc)
		})
		return protocol.ReactionResponse{Message: m, Reaction: rc}, err
	}}, nil
}

// recountReactions stores the message with its new reaction counts, at the
// event's version, and puts both on the event.
func recountReactions(tx Tx, ev *protocol.Event, m *protocol.Message, rc *protocol.Reaction) error {
	counts, err := countReactions(tx, m.ID)
	if err != nil {
		return err
	}
	m.ReactionCounts, m.Version = counts, ev.Seq
	ev.Reaction, ev.Message = rc, m
	return tx.PutMessage(*m)
}

func (s *Server) handleMarkRead(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.MarkReadRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	return s.writeOp(w, r, user, planMarkRead(user, r.PathValue("cid"), req))
}

func planMarkRead(user, cid string, req protocol.MarkReadRequest) op {
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		ch, err := channelFor(c.tx, cid, user)
		if err != nil {
			return nil, err
		}
		if req.MessageID != "" {
			if m, err := c.tx.Message(req.MessageID); err != nil || m.CID != ch.CID {
				return nil, protocol.NewAPIError(protocol.CodeNotFound, "no message %q in %s", req.MessageID, ch.CID)
			}
		}
		rd := protocol.Read{CID: ch.CID, UserID: user, LastReadAt: c.tx.Now(), LastReadMessageID: req.MessageID}
		_, err = c.emit(ch.CID, protocol.EventMessageRead, user, func(ev *protocol.Event) error {
			rd.Version = ev.Seq
			ev.Read = &rd
			return c.tx.PutRead(rd)
		})
		return protocol.ReadResponse{Read: rd}, err
	}}
}

func (s *Server) handleMarkUnread(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.MarkUnreadRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := protocol.ValidateID("message_id", req.MessageID); err != nil {
		return protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		ch, err := channelFor(c.tx, r.PathValue("cid"), user)
		if err != nil {
			return nil, err
		}
		m, err := c.tx.Message(req.MessageID)
		if err != nil || m.CID != ch.CID {
			return nil, protocol.NewAPIError(protocol.CodeNotFound, "no message %q in %s", req.MessageID, ch.CID)
		}
		after, err := c.tx.Messages(ch.CID, MessagesPage{After: &m, Limit: 10000})
		if err != nil {
			return nil, err
		}
		rd := protocol.Read{CID: ch.CID, UserID: user, LastReadAt: m.CreatedAt.Add(-1), UnreadMessages: len(after) + 1}
		_, err = c.emit(ch.CID, protocol.EventNotificationMarkUnread, user, func(ev *protocol.Event) error {
			rd.Version = ev.Seq
			ev.Read = &rd
			return c.tx.PutRead(rd)
		})
		return protocol.ReadResponse{Read: rd}, err
	})
}

func (s *Server) handleSendEvent(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.SendEventRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Type != protocol.EventTypingStart && req.Type != protocol.EventTypingStop {
		return protocol.NewAPIError(protocol.CodeInput, "only typing.start and typing.stop may be sent")
	}
	var recipients []string
	var ch protocol.Channel
	err := s.view(r.Context(), func(tx Tx) error {
		var err error
		if ch, err = channelFor(tx, r.PathValue("cid"), user); err != nil {
			return err
		}
		recipients, err = memberIDs(tx, ch.CID)
		return err
	})
	if err != nil {
		return err
	}
	ev := protocol.Event{ID: newEventID(), Type: req.Type, CID: ch.CID, CreatedAt: s.cfg.Now().UTC(), UserID: user}
	others := recipients[:0]
	for _, id := range recipients {
		if id != user {
			others = append(others, id)
		}
	}
	s.publish(ev, others)
	writeJSON(w, http.StatusCreated, protocol.EventResponse{Event: ev})
	return nil
}

// UpdateUserRequest changes the caller's profile (PUT /users/me).
type UpdateUserRequest struct {
	Name  string          `json:"name,omitempty"`
	Image string          `json:"image,omitempty"`
	Extra json.RawMessage `json:"extra,omitempty"`
}

// UserResponse holds a user.
type UserResponse struct {
	User protocol.User `json:"user"`
}

func (s *Server) handleUpdateMe(w http.ResponseWriter, r *http.Request, user string) error {
	var req UpdateUserRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := validExtra(req.Extra); err != nil {
		return err
	}
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		u, err := ensureUser(c.tx, user)
		if err != nil {
			return nil, err
		}
		u.Name, u.Image, u.UpdatedAt, u.Version = req.Name, req.Image, c.tx.Now(), u.Version+1
		if len(req.Extra) > 0 {
			u.Extra = req.Extra
		}
		if err := c.tx.PutUser(u); err != nil {
			return nil, err
		}
		// user.updated belongs to no channel's log: it goes live to the
		// user's channel members only.
		chs, err := c.tx.UserChannels(user, 1000, 0)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var to []string
		for _, ch := range chs {
			ids, err := memberIDs(c.tx, ch.CID)
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				if !seen[id] {
					seen[id] = true
					to = append(to, id)
				}
			}
		}
		c.notify(protocol.Event{Type: protocol.EventUserUpdated, UserID: user, User: &u}, to...)
		return UserResponse{User: u}, nil
	})
}
