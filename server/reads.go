package server

import (
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

func (s *Server) handleMarkRead(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.MarkReadRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	o, err := planMarkRead(user, r.PathValue("cid"), req)
	if err != nil {
		return err
	}
	return s.writeOp(w, r, user, o)
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
	}}, nil
}

func (s *Server) handleMarkUnread(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.MarkUnreadRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	o, err := planMarkUnread(user, r.PathValue("cid"), req)
	if err != nil {
		return err
	}
	return s.writeOp(w, r, user, o)
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
	}}, nil
}
