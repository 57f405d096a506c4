package server

import (
	"errors"
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

func (s *Server) handleSendReaction(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.SendReactionRequest) (op, error) {
		return planSendReaction(user, r.PathValue("id"), req)
	})
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
	return s.writePlanned(w, r, user)(planDeleteReaction(user, r.PathValue("id"), r.PathValue("type")))
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

func countReactions(tx Tx, messageID string) (map[string]int, error) {
	rs, err := tx.Reactions(messageID)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Type]++
	}
	return counts, nil
}
