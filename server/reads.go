package server

import (
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

func (s *Server) handleMarkRead(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.MarkReadRequest) (op, error) {
		return planMarkRead(user, r.PathValue("cid"), req)
	})
}

func planMarkRead(user, cid string, req protocol.MarkReadRequest) (op, error) {
	if req.MessageID != "" {
		if err := protocol.ValidateID("message_id", req.MessageID); err != nil {
			return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
		}
	}
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		ch, err := channelFor(c.tx, cid, user)
		if err != nil {
			return nil, err
		}
		if req.MessageID != "" {
			if _, err := messageIn(c.tx, ch, req.MessageID); err != nil {
				return nil, err
			}
		}
		rd := protocol.Read{CID: ch.CID, UserID: user, LastReadAt: c.tx.Now(), LastReadMessageID: req.MessageID}
		return putRead(c, protocol.EventMessageRead, rd)
	}}, nil
}

func (s *Server) handleMarkUnread(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.MarkUnreadRequest) (op, error) {
		return planMarkUnread(user, r.PathValue("cid"), req)
	})
}

func planMarkUnread(user, cid string, req protocol.MarkUnreadRequest) (op, error) {
	if err := protocol.ValidateID("message_id", req.MessageID); err != nil {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		ch, err := channelFor(c.tx, cid, user)
		if err != nil {
			return nil, err
		}
		m, err := messageIn(c.tx, ch, req.MessageID)
		if err != nil {
			return nil, err
		}
		after, err := c.tx.Messages(ch.CID, MessagesPage{After: &m, Limit: 10000})
		if err != nil {
			return nil, err
		}
		rd := protocol.Read{CID: ch.CID, UserID: user, LastReadAt: m.CreatedAt.Add(-1), UnreadMessages: len(after) + 1}
		return putRead(c, protocol.EventNotificationMarkUnread, rd)
	}}, nil
}

// putRead stores rd, the user's read state of its channel, at the version
// of its event of type typ, and answers with it.
func putRead(c *change, typ protocol.EventType, rd protocol.Read) (protocol.ReadResponse, error) {
	_, err := c.emit(rd.CID, typ, rd.UserID, func(ev *protocol.Event) error {
		rd.Version = ev.Seq
		ev.Read = &rd
		return c.tx.PutRead(rd)
	})
	return protocol.ReadResponse{Read: rd}, err
}

// messageIn returns the message id of ch, a read mark's message: 404 when
// ch has none of that id.
func messageIn(tx Tx, ch protocol.Channel, id string) (protocol.Message, error) {
	m, err := tx.Message(id)
	if err != nil || m.CID != ch.CID {
		return m, protocol.NewAPIError(protocol.CodeNotFound, "no message %q in %s", id, ch.CID)
	}
	return m, nil
}
