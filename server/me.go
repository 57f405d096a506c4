package server

import (
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

func (s *Server) handleUpdateMe(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.UpdateUserRequest) (op, error) {
		return planUpdateMe(user, req)
	})
}

// planUpdateMe changes user's profile; user.updated goes to the user's
// feed, and live to the members of the user's channels.
func planUpdateMe(user string, req protocol.UpdateUserRequest) (op, error) {
	if err := validName("name", req.Name); err != nil {
		return op{}, err
	}
	if len(req.Image) > MaxImageBytes {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "image is over %d bytes", MaxImageBytes)
	}
	if err := validExtra(req.Extra); err != nil {
		return op{}, err
	}
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
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
		// user.updated belongs to no channel's log: it is stored in the
		// user's own feed, and goes live to the user's channel members.
		if err := c.feed(user, protocol.Event{Type: protocol.EventUserUpdated, UserID: user, User: &u}); err != nil {
			return nil, err
		}
		cids, err := c.tx.UserChannelIDs(user)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{user: true}
		var to []string
		for _, cid := range cids {
			ids, err := memberIDs(c.tx, cid)
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
		if len(to) > 0 {
			c.notify(protocol.Event{Type: protocol.EventUserUpdated, UserID: user, User: &u}, to...)
		}
		return protocol.UserResponse{User: u}, nil
	}}, nil
}
