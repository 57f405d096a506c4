package server

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/outpostsync/outpost/protocol"
)

func (s *Server) handleCreateChannel(w http.ResponseWriter, r *http.Request, user string) error {
	return writeBody(s, w, r, user, func(req protocol.CreateChannelRequest) (op, error) {
		return planCreateChannel(user, req)
	})
}

// planCreateChannel makes the channel with its creator as owner and the
// members asked for; creating an existing channel returns it, to its
// members (see existingChannel).
func planCreateChannel(user string, req protocol.CreateChannelRequest) (op, error) {
	if err := protocol.ValidateID("type", req.Type); err != nil {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	if err := protocol.ValidateID("id", req.ID); err != nil {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
	}
	if err := validName("name", req.Name); err != nil {
		return op{}, err
	}
	if err := validExtra(req.Extra); err != nil {
		return op{}, err
	}
	if len(req.Members) > maxMembersAdded {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "at most %d members at once", maxMembersAdded)
	}
	for _, m := range req.Members {
		if err := protocol.ValidateID("member", m); err != nil {
			return op{}, protocol.NewAPIError(protocol.CodeInput, "%v", err)
		}
	}
	cid := protocol.CID(req.Type, req.ID)
	return op{status: http.StatusOK, apply: func(c *change) (any, error) {
		now := c.tx.Now()
		ch := protocol.Channel{CID: cid, Type: req.Type, ID: req.ID, Name: req.Name, CreatedBy: user,
			CreatedAt: now, UpdatedAt: now, Extra: req.Extra}
		// CreateChannel takes the cid or finds it taken, whoever took it
		// and whenever: the channel has one creator and one owner.
		if err := c.tx.CreateChannel(ch); errors.Is(err, ErrExists) {
			return existingChannel(c.tx, cid, user)
		} else if err != nil {
			return nil, err
		}
		if _, err := c.emit(cid, protocol.EventChannelCreated, user, func(ev *protocol.Event) error {
			ch.Version = ev.Seq
			ev.Channel = &ch
			return c.tx.PutChannel(ch)
		}); err != nil {
			return nil, err
		}
		// The creator is the owner, and joins first.
		if err := addMember(c, &ch, user, user, protocol.RoleOwner); err != nil {
			return nil, err
		}
		for _, id := range uniqueIDs(req.Members) {
			if err := addMember(c, &ch, id, user, protocol.RoleMember); err != nil {
				return nil, err
			}
		}
		return channelState(c.tx, ch, 50)
	}}, nil
}

// existingChannel answers a creation of cid, which exists: its state, to
// a member; to anyone else a refusal naming the channel and why. Nothing
// of the request is applied to it.
func existingChannel(tx Tx, cid, user string) (any, error) {
	ch, err := tx.Channel(cid)
	if err != nil {
		return nil, err
	}
	if ch.DeletedAt != nil {
		return nil, protocol.NewAPIError(protocol.CodeConflict, "channel %s was deleted; its id cannot be used again", cid)
	}
	if _, err := tx.Member(cid, user); errors.Is(err, ErrNotFound) {
		return nil, protocol.NewAPIError(protocol.CodeNotAllowed, "channel %s exists and you are not a member", cid)
	} else if err != nil {
		return nil, err
	}
	return channelState(tx, ch, 50)
}

func (s *Server) handleGetChannel(w http.ResponseWriter, r *http.Request, user string) error {
	return viewJSON(s, w, r, func(tx Tx) (protocol.ChannelResponse, error) {
		ch, err := channelFor(tx, r.PathValue("cid"), user)
		if err != nil {
			return protocol.ChannelResponse{}, err
		}
		if ch.Hidden, err = tx.ChannelHidden(ch.CID, user); err != nil {
			return protocol.ChannelResponse{}, err
		}
		return channelState(tx, ch, 50)
	})
}

// markHidden sets Hidden on the channels user hid: the flag is the
// caller's own, so only answers to the caller carry it.
func markHidden(tx Tx, user string, chs []protocol.Channel) error {
	hidden, err := tx.HiddenChannelIDs(user)
	if err != nil || len(hidden) == 0 {
		return err
	}
	for i := range chs {
		chs[i].Hidden = slices.Contains(hidden, chs[i].CID)
	}
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
	if len(req.CIDs) > 0 {
		return s.queryChannelsByCID(w, r, user, req.CIDs, msgLimit)
	}
	return viewJSON(s, w, r, func(tx Tx) (protocol.QueryChannelsResponse, error) {
		chs, err := tx.UserChannels(user, limit, req.Offset)
		if err == nil {
			err = markHidden(tx, user, chs)
		}
		if err != nil {
			return protocol.QueryChannelsResponse{}, err
		}
		states, err := channelStates(tx, chs, msgLimit)
		return protocol.QueryChannelsResponse{Channels: states, SyncedAt: tx.Now()}, err
	})
}

// queryChannelsByCID answers a query for named channels: those the user is
// a member of, in cid order, each with the position its state was read
// at; the others as inaccessible.
func (s *Server) queryChannelsByCID(w http.ResponseWriter, r *http.Request, user string, cids []string, msgLimit int) error {
	if len(cids) > protocol.MaxQueryCIDs {
		return protocol.NewAPIError(protocol.CodeInput, "at most %d cids per query, got %d", protocol.MaxQueryCIDs, len(cids))
	}
	for _, cid := range cids {
		if err := protocol.ValidateCID(cid); err != nil {
			return protocol.NewAPIError(protocol.CodeInput, "cids: %v", err)
		}
	}
	return viewJSON(s, w, r, func(tx Tx) (protocol.QueryChannelsResponse, error) {
		var resp protocol.QueryChannelsResponse
		var chs []protocol.Channel
		for _, cid := range uniqueIDs(cids) {
			ch, err := channelFor(tx, cid, user)
			if ae, ok := protocol.AsAPIError(err); ok && (ae.Code == protocol.CodeNotFound || ae.Code == protocol.CodeNotAllowed) {
				resp.Inaccessible = append(resp.Inaccessible, cid)
				continue
			}
			if err != nil {
				return resp, err
			}
			chs = append(chs, ch)
		}
		if err := markHidden(tx, user, chs); err != nil {
			return resp, err
		}
		var err error
		resp.Channels, err = channelStates(tx, chs, msgLimit)
		resp.SyncedAt = tx.Now()
		return resp, err
	})
}

// channelStates reads the state of each channel (see channelState).
func channelStates(tx Tx, chs []protocol.Channel, msgLimit int) ([]protocol.ChannelResponse, error) {
	out := []protocol.ChannelResponse{}
	for _, ch := range chs {
		st, err := channelState(tx, ch, msgLimit)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// queryLimit reads the query parameter limit of r, bounded as boundedInt
// says.
func queryLimit(r *http.Request, def, maxV int) (int, error) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, protocol.NewAPIError(protocol.CodeInput, "limit is not a number")
		}
		limit = n
	}
	return boundedInt("limit", limit, def, maxV)
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
	s.broker.Publish([]Delivery{{Event: ev, Recipients: others}})
	writeJSON(w, http.StatusCreated, protocol.EventResponse{Event: ev})
	return nil
}
