package server

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// syncPage is protocol.SyncResponse with its events as the logs stored
// them: they go out without a decode and encode round trip (write).
type syncPage struct {
	Feed   feedPage          `json:"feed"`
	Events []json.RawMessage `json:"-"` // written by write

	Channels []protocol.ChannelSync `json:"channels,omitempty"`
	More     bool                   `json:"more,omitempty"`
	SyncedAt time.Time              `json:"synced_at"`
	Hello    *protocol.Hello        `json:"hello"`
}

// feedPage is protocol.FeedPage with its events as stored.
type feedPage struct {
	Reset    bool              `json:"reset,omitempty"`
	Channels []string          `json:"channels,omitempty"`
	Hidden   []string          `json:"hidden,omitempty"`
	Events   []json.RawMessage `json:"events,omitempty"`
	Position protocol.Position `json:"position"`
}

// checkVersion refuses a request whose Outpost-Protocol header names a
// version this server does not speak. A request without it is taken to
// speak protocol.Version.
func checkVersion(r *http.Request) error {
	v := r.Header.Get(protocol.HeaderProtocol)
	if v == "" || v == strconv.Itoa(protocol.Version) {
		return nil
	}
	return protocol.NewAPIError(protocol.CodeProtocolVersion,
		"%s %q: this server speaks protocol version %d", protocol.HeaderProtocol, v, protocol.Version)
}

// handleSync answers POST /sync: in one snapshot, what follows the
// client's position in its membership feed, then in each channel it
// holds, in cid order, up to the page's limit.
func (s *Server) handleSync(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.SyncRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Version != protocol.Version {
		return protocol.NewAPIError(protocol.CodeProtocolVersion,
			"version %d: this server speaks protocol version %d", req.Version, protocol.Version)
	}
	if !req.LastSyncAt.IsZero() && req.LastSyncAt.Before(s.cfg.Now().Add(-s.cfg.Retention)) {
		return protocol.NewAPIError(protocol.CodeSyncPositionTooOld,
			"last_sync_at is older than the %s retention window: reset and query channels", s.cfg.Retention)
	}
	limit, err := boundedInt("limit", req.Limit, s.cfg.SyncPageDefault, s.cfg.SyncPageMax)
	if err != nil {
		return err
	}
	if req.Feed != nil {
		if err := validPosition("feed", *req.Feed); err != nil {
			return err
		}
	}
	positions, err := s.syncPositions(req.Channels)
	if err != nil {
		return err
	}
	hello, err := s.hello(r.Context())
	if err != nil {
		return err
	}

	var page syncPage
	err = s.view(r.Context(), func(tx Tx) error {
		page = syncPage{Events: []json.RawMessage{}, SyncedAt: tx.Now(), Hello: hello}
		if err := s.helloRules(tx, hello); err != nil {
			return err
		}
		budget, err := syncFeed(tx, user, req.Feed, limit, &page)
		if err != nil {
			return err
		}
		bytesLeft := s.cfg.SyncPageMaxBytes
		for _, e := range page.Feed.Events {
			bytesLeft -= len(e)
		}
		return syncChannels(tx, user, positions, budget, bytesLeft, &page)
	})
	if err != nil {
		return err
	}
	s.metrics.syncPages.Inc()
	s.metrics.syncEvents.Add(float64(len(page.Events) + len(page.Feed.Events)))
	return page.write(w)
}

// write sends the page as the body of a 200, its events as stored.
func (p *syncPage) write(w http.ResponseWriter) error {
	return writeSpliced(w, "events", p.Events, p)
}

// syncPositions checks the channel positions of a request and returns
// them sorted by cid.
func (s *Server) syncPositions(in []protocol.ChannelPosition) ([]protocol.ChannelPosition, error) {
	if len(in) > s.cfg.MaxSyncChannels {
		return nil, protocol.NewAPIError(protocol.CodeInput, "at most %d channels per sync request, got %d: send them over several",
			s.cfg.MaxSyncChannels, len(in))
	}
	positions := slices.Clone(in)
	slices.SortFunc(positions, func(a, b protocol.ChannelPosition) int { return cmp.Compare(a.CID, b.CID) })
	for i, p := range positions {
		if err := protocol.ValidateCID(p.CID); err != nil {
			return nil, protocol.NewAPIError(protocol.CodeInput, "channels: %v", err)
		}
		if i > 0 && positions[i-1].CID == p.CID {
			return nil, protocol.NewAPIError(protocol.CodeInput, "channels: %s is listed twice", p.CID)
		}
		if err := validPosition("channels: "+p.CID, p.Position); err != nil {
			return nil, err
		}
	}
	return positions, nil
}

// syncFeed fills page.Feed and returns what is left of the page's budget.
// A client without a position, or with one the feed cannot continue, gets
// a reset: every channel the user is a member of, and the feed's head.
func syncFeed(tx Tx, user string, from *protocol.Position, budget int, page *syncPage) (int, error) {
	st, err := tx.FeedLog(user)
	if err != nil {
		return 0, err
	}
	reason, verify := protocol.ReasonNoPosition, false
	if from != nil {
		reason, verify = check(st, *from)
	}
	if reason != "" {
		page.Feed.Reset = true
		if page.Feed.Channels, err = tx.UserChannelIDs(user); err != nil {
			return 0, err
		}
		if page.Feed.Hidden, err = tx.HiddenChannelIDs(user); err != nil {
			return 0, err
		}
		page.Feed.Position = head(st)
		return budget, nil
	}
	page.Feed.Position = *from
	if from.Seq == st.LastSeq {
		return budget, nil
	}
	after, limit := from.Seq, budget
	if verify {
		after, limit = after-1, limit+1
	}
	evs, err := tx.FeedEvents(user, after, limit)
	if err != nil {
		return 0, err
	}
	if evs, reason = follow(*from, verify, evs); reason != "" {
		return syncFeed(tx, user, nil, budget, page)
	}
	for _, e := range evs {
		page.Feed.Events = append(page.Feed.Events, e.Payload)
	}
	last := evs[len(evs)-1]
	page.Feed.Position = protocol.Position{Epoch: st.Epoch, Seq: last.Seq, EventID: last.ID}
	if last.Seq < st.LastSeq {
		page.More = true
	}
	return budget - len(evs), nil
}

// syncChannels adds to page, for each position in cid order, the
// channel's events after it up to the budget, or its reset, or that it is
// inaccessible. A channel with nothing new is left out.
//
// It decides from the logs' states alone which channels the page serves
// and how many events of each (the seqs of a log have no gaps), then
// reads all of them in one ChannelEventRanges. The page then ends where
// its events reach bytesLeft bytes (records can be large), with one
// event at least: the channels it cannot serve wait for the next page.
func syncChannels(tx Tx, user string, positions []protocol.ChannelPosition, budget, bytesLeft int, page *syncPage) error {
	if len(positions) == 0 {
		return nil
	}
	// Both lists are sorted by cid: walk them together. Inaccessible
	// covers "not a member" and "no such channel" alike, so a
	// non-member cannot probe which channels exist.
	logs, err := tx.ChannelLogs(user)
	if err != nil {
		return err
	}
	type serve struct {
		slot   int // index in page.Channels
		pos    protocol.Position
		state  LogState
		verify bool
	}
	var serves []serve
	var ranges []EventRange
	j := 0
	for _, p := range positions {
		for j < len(logs) && logs[j].Key < p.CID {
			j++
		}
		if j == len(logs) || logs[j].Key != p.CID {
			page.Channels = append(page.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelInaccessible})
			continue
		}
		st := logs[j]
		reason, verify := check(st, p.Position)
		if reason != "" {
			page.Channels = append(page.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelReset, Reason: reason})
			continue
		}
		if p.Seq == st.LastSeq {
			continue
		}
		if budget == 0 {
			page.More = true
			break
		}
		n := min(st.LastSeq-p.Seq, int64(budget))
		budget -= int(n)
		from := p.Seq + 1
		if verify {
			from = p.Seq
		}
		serves = append(serves, serve{slot: len(page.Channels), pos: p.Position, state: st, verify: verify})
		ranges = append(ranges, EventRange{Key: p.CID, From: from, To: p.Seq + n})
		page.Channels = append(page.Channels, protocol.ChannelSync{CID: p.CID, Status: protocol.ChannelOK})
	}
	if len(ranges) == 0 {
		return nil
	}
	read, err := tx.ChannelEventRanges(ranges)
	if err != nil {
		return err
	}
	cut := -1 // the slot of the first channel the byte bound left out
	for i, sv := range serves {
		cs := &page.Channels[sv.slot]
		evs, reason := follow(sv.pos, sv.verify, read[i])
		if reason != "" {
			cs.Status, cs.Reason = protocol.ChannelReset, reason
			continue
		}
		k := 0
		for ; k < len(evs); k++ {
			size := len(evs[k].Payload)
			if size > bytesLeft && len(page.Events) > 0 {
				break
			}
			bytesLeft -= size
			page.Events = append(page.Events, evs[k].Payload)
		}
		if k == 0 {
			cut, page.More = sv.slot, true
			break
		}
		evs = evs[:k]
		last := evs[len(evs)-1]
		cs.Position = &protocol.Position{Epoch: sv.state.Epoch, Seq: last.Seq, EventID: last.ID}
		if last.Seq < sv.state.LastSeq {
			page.More = true
		}
	}
	if cut >= 0 {
		// Leave out the channels from cut on that the page was to serve:
		// their resets and inaccessibility stay.
		kept := page.Channels[:cut]
		for _, cs := range page.Channels[cut:] {
			if cs.Status != protocol.ChannelOK {
				kept = append(kept, cs)
			}
		}
		page.Channels = kept
	}
	return nil
}
