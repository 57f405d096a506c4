package server

import (
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

// handleSetRole sets a member's role; RoleOwner transfers the ownership,
// the caller becoming a moderator. Who may is in roles.go.
func (s *Server) handleSetRole(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.SetRoleRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if !validRole(req.Role) {
		return protocol.NewAPIError(protocol.CodeInput, "role must be %s, %s or %s", protocol.RoleOwner,
			protocol.RoleModerator, protocol.RoleMember)
	}
	target := r.PathValue("user_id")
	if err := validMemberID(target); err != nil {
		return err
	}
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		ch, tm, err := memberToChange(c.tx, r.PathValue("cid"), user, target)
		if err != nil {
			return nil, err
		}
		if req.Role == protocol.RoleOwner {
			me, err := authorize(c.tx, ch.CID, user, actTransferOwnership)
			if err != nil {
				return nil, err
			}
			if target != user {
				if err := setRole(c, ch.CID, tm, protocol.RoleOwner, user); err != nil {
					return nil, err
				}
				if err := setRole(c, ch.CID, me, protocol.RoleModerator, user); err != nil {
					return nil, err
				}
			}
		} else {
			if _, err := authorize(c.tx, ch.CID, user, actSetRole); err != nil {
				return nil, err
			}
			if roleOf(tm) == protocol.RoleOwner {
				return nil, protocol.NewAPIError(protocol.CodeNotAllowed,
					"the owner's role changes only by transferring the ownership (role %q to another member)", protocol.RoleOwner)
			}
			if roleOf(tm) != req.Role {
				if err := setRole(c, ch.CID, tm, req.Role, user); err != nil {
					return nil, err
				}
			}
		}
		members, err := c.tx.Members(ch.CID)
		return protocol.MembersResponse{Channel: ch, Members: nonNil(members)}, err
	})
}

// setRole stores m with role and appends its member.updated event.
func setRole(c *change, cid string, m protocol.Member, role, actor string) error {
	_, err := c.emit(cid, protocol.EventMemberUpdated, actor, func(ev *protocol.Event) error {
		m.Role, m.UpdatedAt, m.Version = role, c.tx.Now(), ev.Seq
		ev.Member = &m
		return c.tx.PutMember(m)
	})
	return err
}

func (s *Server) handleUpdateChannel(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.UpdateChannelRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := validName("name", req.Name); err != nil {
		return err
	}
	if err := validExtra(req.Extra); err != nil {
		return err
	}
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		ch, err := channelFor(c.tx, r.PathValue("cid"), user)
		if err != nil {
			return nil, err
		}
		if _, err := authorize(c.tx, ch.CID, user, actUpdateChannel); err != nil {
			return nil, err
		}
		_, err = c.emit(ch.CID, protocol.EventChannelUpdated, user, func(ev *protocol.Event) error {
			ch.Name, ch.UpdatedAt, ch.Version = req.Name, c.tx.Now(), ev.Seq
			if len(req.Extra) > 0 {
				ch.Extra = req.Extra
			}
			ev.Channel = &ch
			return c.tx.PutChannel(ch)
		})
		if err != nil {
			return nil, err
		}
		return channelState(c.tx, ch, 50)
	})
}

// handleDeleteChannel marks the channel deleted, tells its members, and
// ends every membership: the channel is gone from their lists and syncs,
// and its id cannot be used again.
func (s *Server) handleDeleteChannel(w http.ResponseWriter, r *http.Request, user string) error {
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		ch, err := channelFor(c.tx, r.PathValue("cid"), user)
		if err != nil {
			return nil, err
		}
		if _, err := authorize(c.tx, ch.CID, user, actDeleteChannel); err != nil {
			return nil, err
		}
		ev, err := c.emit(ch.CID, protocol.EventChannelDeleted, user, func(ev *protocol.Event) error {
			now := c.tx.Now()
			ch.DeletedAt, ch.UpdatedAt, ch.Version, ch.MemberCount = &now, now, ev.Seq, 0
			ev.Channel = &ch
			return c.tx.PutChannel(ch)
		})
		if err != nil {
			return nil, err
		}
		// The channel's records go with it, for everyone; a client
		// drops them with the channel (channel.deleted says so).
		if err := c.tx.DeleteRecords(ch.CID); err != nil {
			return nil, err
		}
		ids, err := c.tx.MemberIDs(ch.CID)
		if err != nil {
			return nil, err
		}
		// Every member is removed as handleRemoveMember removes one,
		// with the same notification.
		for _, id := range ids {
			if err := c.tx.DeleteMember(ch.CID, id); err != nil {
				return nil, err
			}
			if err := c.feed(id, protocol.Event{Type: protocol.EventNotificationRemovedFromChannel, CID: ch.CID, UserID: user,
				Member: &protocol.Member{CID: ch.CID, UserID: id, Version: ev.Seq}, Channel: ev.Channel}); err != nil {
				return nil, err
			}
		}
		return protocol.ChannelResponse{Channel: ch, Members: []protocol.Member{}, Messages: []protocol.Message{},
			Reads: []protocol.Read{}}, nil
	})
}

// handleTruncateChannel removes every message of the channel, for good,
// and tells the members where: channel.truncated carries its seq as the
// channel's TruncatedSeq, and every message of a lower seq is gone. The
// log's events of those messages are redacted; its other events stay.
func (s *Server) handleTruncateChannel(w http.ResponseWriter, r *http.Request, user string) error {
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		ch, err := channelFor(c.tx, r.PathValue("cid"), user)
		if err != nil {
			return nil, err
		}
		if _, err := authorize(c.tx, ch.CID, user, actTruncateChannel); err != nil {
			return nil, err
		}
		_, err = c.emit(ch.CID, protocol.EventChannelTruncated, user, func(ev *protocol.Event) error {
			now := c.tx.Now()
			ch.TruncatedAt, ch.TruncatedSeq, ch.UpdatedAt, ch.Version = &now, ev.Seq, now, ev.Seq
			ev.Channel = &ch
			if err := c.tx.PutChannel(ch); err != nil {
				return err
			}
			if err := redactEvents(c.tx, ch.CID, "", ev.Seq); err != nil {
				return err
			}
			for {
				msgs, err := c.tx.Messages(ch.CID, MessagesPage{Limit: 500})
				if err != nil || len(msgs) == 0 {
					return err
				}
				for _, m := range msgs {
					if err := removeMessage(c.tx, m); err != nil {
						return err
					}
				}
			}
		})
		if err != nil {
			return nil, err
		}
		return channelState(c.tx, ch, 50)
	})
}
