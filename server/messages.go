package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/outpostsync/outpost/protocol"
)

func validText(text string) error {
	if strings.TrimSpace(text) == "" {
		return protocol.NewAPIError(protocol.CodeInput, "text is empty")
	}
	if len(text) > protocol.MaxTextBytes {
		return protocol.NewAPIError(protocol.CodeInput, "text is over %d bytes", protocol.MaxTextBytes)
	}
	return nil
}

func (s *Server) handleSendMessage(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.SendMessageRequest) (op, error) {
		return planSendMessage(user, r.PathValue("cid"), req)
	})
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
		if removed, err := messageRemoved(c.tx, in.ID); err != nil {
			return nil, err
		} else if removed {
			return repeatOfRemoved(c.tx, ch.CID, user, in.ID)
		}
		now := c.tx.Now()
		m := protocol.Message{ID: in.ID, CID: ch.CID, UserID: user, Text: in.Text, ParentID: in.ParentID,
			CreatedAt: now, UpdatedAt: now, Extra: in.Extra}
		_, err = c.emit(ch.CID, protocol.EventMessageNew, user, func(ev *protocol.Event) error {
			m.Version, m.Seq = ev.Seq, ev.Seq
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
	limit, err := queryLimit(r, 50, 200)
	if err != nil {
		return err
	}
	return viewJSON(s, w, r, func(tx Tx) (protocol.MessagesResponse, error) {
		ch, err := channelFor(tx, r.PathValue("cid"), user)
		if err != nil {
			return protocol.MessagesResponse{}, err
		}
		page := MessagesPage{Limit: limit}
		for name, dst := range map[string]**protocol.Message{"before": &page.Before, "after": &page.After} {
			id := q.Get(name)
			if id == "" {
				continue
			}
			m, err := tx.Message(id)
			if err != nil || m.CID != ch.CID {
				return protocol.MessagesResponse{}, protocol.NewAPIError(protocol.CodeInput, "%s: no message %q in this channel", name, id)
			}
			*dst = &m
		}
		if page.Before != nil && page.After != nil {
			return protocol.MessagesResponse{}, protocol.NewAPIError(protocol.CodeInput, "give before or after, not both")
		}
		msgs, err := tx.Messages(ch.CID, page)
		return protocol.MessagesResponse{Messages: nonNil(msgs)}, err
	})
}

// messageToChange returns a message in a channel the user is in, if the
// user wrote it or their role allows them to edit (or, with del, delete)
// another's.
func messageToChange(tx Tx, id, user string, del bool) (protocol.Message, protocol.Channel, error) {
	m, ch, err := messageFor(tx, id, user)
	if err != nil || m.UserID == user {
		return m, ch, err
	}
	a := actEditOthersMessage
	if del {
		if a, err = deleteMessageAction(tx, ch.CID, m.UserID); err != nil {
			return m, ch, err
		}
	}
	_, err = authorize(tx, ch.CID, user, a)
	return m, ch, err
}

func (s *Server) handleUpdateMessage(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.UpdateMessageRequest) (op, error) {
		return planUpdateMessage(user, r.PathValue("id"), req)
	})
}

func planUpdateMessage(user, id string, req protocol.UpdateMessageRequest) (op, error) {
	if err := validText(req.Text); err != nil {
		return op{}, err
	}
	if err := validExtra(req.Extra); err != nil {
		return op{}, err
	}
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		m, ch, err := messageToChange(c.tx, id, user, false)
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
	return s.writePlanned(w, r, user)(planDeleteMessage(user, r.PathValue("id"), hard))
}

func planDeleteMessage(user, id string, hard bool) (op, error) {
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		m, ch, err := messageToChange(c.tx, id, user, true)
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
			if !hard {
				return c.tx.PutMessage(m)
			}
			// Removed for good: the event and the answer name the
			// message alone, and the log keeps none of its content.
			if err := redactEvents(c.tx, ch.CID, m.ID, ev.Seq); err != nil {
				return err
			}
			if err := removeMessage(c.tx, m); err != nil {
				return err
			}
			ev.Message = protocol.RemovedMessage(&m)
			m = *ev.Message
			return nil
		})
		return protocol.MessageResponse{Message: m}, err
	}}, nil
}

func (s *Server) handleUndeleteMessage(w http.ResponseWriter, r *http.Request, user string) error {
	return s.writePlanned(w, r, user)(planUndeleteMessage(user, r.PathValue("id")))
}

func planUndeleteMessage(user, id string) (op, error) {
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		m, ch, err := messageToChange(c.tx, id, user, true)
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
	}}, nil
}
