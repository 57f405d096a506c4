package server

import (
	"errors"
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

func (s *Server) handleAddMembers(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.AddMembersRequest) (op, error) {
		return planAddMembers(user, r.PathValue("cid"), req)
	})
}

func planAddMembers(user, cid string, req protocol.AddMembersRequest) (op, error) {
	if len(req.UserIDs) == 0 || len(req.UserIDs) > maxMembersAdded {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "user_ids must hold 1 to %d ids", maxMembersAdded)
	}
	for _, id := range req.UserIDs {
		if err := protocol.ValidateID("user_ids", id); err != nil {
			return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
		}
	}
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		ch, err := channelFor(c.tx, cid, user)
		if err != nil {
			return nil, err
		}
		if _, err := authorize(c.tx, ch.CID, user, actAddMembers); err != nil {
			return nil, err
		}
		for _, id := range uniqueIDs(req.UserIDs) {
			if err := addMember(c, &ch, id, user, protocol.RoleMember); err != nil {
				return nil, err
			}
		}
		members, err := c.tx.Members(ch.CID)
		return protocol.MembersResponse{Channel: ch, Members: nonNil(members)}, err
	}}, nil
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request, user string) error {
	return s.writePlanned(w, r, user)(planRemoveMember(user, r.PathValue("cid"), r.PathValue("user_id")))
}

func planRemoveMember(user, cid, target string) (op, error) {
	if err := validMemberID(target); err != nil {
		return op{}, err
	}
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		ch, m, err := memberToChange(c.tx, cid, user, target)
		if err != nil {
			return nil, err
		}
		if _, err := authorize(c.tx, ch.CID, user, removeAction(user, m)); err != nil {
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
		if err := c.feed(target, protocol.Event{Type: protocol.EventNotificationRemovedFromChannel, CID: ch.CID, UserID: user,
			Member: ev.Member, Channel: ev.Channel}); err != nil {
			return nil, err
		}
		members, err := c.tx.Members(ch.CID)
		return protocol.MembersResponse{Channel: ch, Members: nonNil(members)}, err
	}}, nil
}

// validMemberID checks the user id of a member a write is on (the
// {user_id} of the member paths).
func validMemberID(id string) error {
	if err := protocol.ValidateID("user_id", id); err != nil {
		return protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	return nil
}

// memberToChange returns the channel cid, if user is in it, and its member
// target, whom a write of user is on: the lookup of every member write
// (remove, set role). Who may make the write is the caller's to check.
// It answers as channelFor does, and 404 when target is not a member.
func memberToChange(tx Tx, cid, user, target string) (protocol.Channel, protocol.Member, error) {
	ch, err := channelFor(tx, cid, user)
	if err != nil {
		return ch, protocol.Member{}, err
	}
	m, err := tx.Member(ch.CID, target)
	if errors.Is(err, ErrNotFound) {
		return ch, m, protocol.NewAPIError(protocol.CodeNotFound, "%s is not a member of %s", target, ch.CID)
	}
	return ch, m, err
}

// addMember adds id to ch with role (a no-op if it is a member) with its
// events.
func addMember(c *change, ch *protocol.Channel, id, actor, role string) error {
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
	m := protocol.Member{CID: ch.CID, UserID: id, Role: role, CreatedAt: now, UpdatedAt: now, User: &u}
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
	return c.feed(id, protocol.Event{Type: protocol.EventNotificationAddedToChannel, CID: ch.CID, UserID: actor,
		Member: ev.Member, Channel: ev.Channel})
}
