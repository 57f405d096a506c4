package server

import (
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

// handleHideChannel hides a channel from the caller's own channel list
// (protocol.PathHideChannel).
func (s *Server) handleHideChannel(w http.ResponseWriter, r *http.Request, user string) error {
	return s.setHidden(w, r, user, true)
}

// handleShowChannel shows a channel the caller hid again
// (protocol.PathShowChannel).
func (s *Server) handleShowChannel(w http.ResponseWriter, r *http.Request, user string) error {
	return s.setHidden(w, r, user, false)
}

// setHidden sets the caller's hidden flag on their membership of the
// channel and, when it changes, appends channel.hidden or channel.visible
// to the caller's membership feed, which reaches their other devices live
// and through sync. Setting the flag it already has changes nothing. Any
// member may; a non-member gets 403, a channel that does not exist 404.
// The answer is the channel's state with Channel.Hidden the caller's.
func (s *Server) setHidden(w http.ResponseWriter, r *http.Request, user string, hidden bool) error {
	return s.write(w, r, user, http.StatusOK, func(c *change) (any, error) {
		ch, err := channelFor(c.tx, r.PathValue("cid"), user)
		if err != nil {
			return nil, err
		}
		was, err := c.tx.ChannelHidden(ch.CID, user)
		if err != nil {
			return nil, err
		}
		ch.Hidden = hidden
		if was != hidden {
			if err := c.tx.SetChannelHidden(ch.CID, user, hidden); err != nil {
				return nil, err
			}
			typ := protocol.EventChannelVisible
			if hidden {
				typ = protocol.EventChannelHidden
			}
			evCh := ch
			if err := c.feed(user, protocol.Event{Type: typ, CID: ch.CID, UserID: user, Channel: &evCh}); err != nil {
				return nil, err
			}
		}
		return channelState(c.tx, ch, 50)
	})
}
