package protocol

import "time"

// decodeSyncRequestFast reads a sync request of the plain form: the
// request's known keys, each at most once and in their exact spelling,
// strings without escapes, integers, no nulls, nothing after it. Such a
// request decodes under DecodeStrict's rules to the same value, so
// DecodeStrict takes the scanner's; ok is false for any other input
// (malformed, or a form the scanner does not read), which DecodeStrict
// then decodes itself and judges.
func decodeSyncRequestFast(data []byte) (req SyncRequest, ok bool) {
	s := scanner{d: data}
	ok = s.object(func(key []byte) (bit uint16, ok bool) {
		switch string(key) {
		case "version":
			req.Version, ok = s.goInt()
			return 1 << 0, ok
		case "last_sync_at":
			req.LastSyncAt, ok = s.time()
			return 1 << 1, ok
		case "feed":
			req.Feed = new(Position)
			return 1 << 2, s.position(req.Feed, nil)
		case "channels":
			req.Channels, ok = s.channelPositions()
			return 1 << 3, ok
		case "limit":
			req.Limit, ok = s.goInt()
			return 1 << 4, ok
		}
		return 0, false
	})
	s.ws()
	return req, ok && s.i == len(s.d)
}

// isZero reports whether r is the zero SyncRequest, which a decode fills
// from nothing (encoding/json decodes into what a value holds).
func (r *SyncRequest) isZero() bool {
	return r.Version == 0 && r.LastSyncAt == (time.Time{}) && r.Feed == nil && r.Channels == nil && r.Limit == 0
}

// goInt reads an integer in int's range.
func (s *scanner) goInt() (int, bool) {
	n, ok := s.int()
	return int(n), ok && int64(int(n)) == n
}

// channelPositions reads a list of channel positions.
func (s *scanner) channelPositions() ([]ChannelPosition, bool) {
	if !s.byte('[') {
		return nil, false
	}
	out := []ChannelPosition{}
	if s.byte(']') {
		return out, true
	}
	for {
		var p ChannelPosition
		if !s.position(&p.Position, &p.CID) {
			return nil, false
		}
		out = append(out, p)
		if s.byte(']') {
			return out, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}

// position reads a Position, and when cid is set a ChannelPosition's
// "cid" beside it.
func (s *scanner) position(p *Position, cid *string) bool {
	return s.object(func(key []byte) (bit uint16, ok bool) {
		switch string(key) {
		case "epoch":
			return 1 << 0, s.string(&p.Epoch)
		case "seq":
			p.Seq, ok = s.int()
			return 1 << 1, ok
		case "event_id":
			return 1 << 2, s.string(&p.EventID)
		case "cid":
			if cid != nil {
				return 1 << 3, s.string(cid)
			}
		}
		return 0, false
	})
}
