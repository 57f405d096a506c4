package server

import (
	"fmt"

	"github.com/outpostsync/outpost/protocol"
)

// Bounds of a position a client sends.
const (
	maxPositionSeq   = 1 << 53 // the largest integer every JSON reader keeps exact
	maxPositionToken = 64      // bytes of an epoch or event id
)

// head returns the position at the log's last event.
func head(st LogState) protocol.Position {
	return protocol.Position{Epoch: st.Epoch, Seq: st.LastSeq, EventID: st.LastEventID}
}

// check returns why pos cannot be continued in the log st, or "" if it
// may be. Positions at the log's ends, where st holds the event ids, are
// settled here; for one between them verify is true: the log's event at
// pos.Seq is still to be compared with pos (follow), and the read of the
// events after pos begins at pos.Seq to bring it, so a check never costs
// a read of its own.
func check(st LogState, pos protocol.Position) (reason string, verify bool) {
	var id string
	switch {
	case pos.Epoch != st.Epoch:
		if pos.IsZero() {
			return protocol.ReasonNoPosition, false
		}
		return protocol.ReasonEpoch, false
	case pos.Seq > st.LastSeq:
		return protocol.ReasonAhead, false
	case pos.Seq < st.PrunedSeq:
		return protocol.ReasonPruned, false
	case pos.Seq == 0:
		return "", false
	case pos.Seq == st.LastSeq:
		id = st.LastEventID
	case pos.Seq == st.PrunedSeq:
		id = st.PrunedEventID
	default:
		return "", true
	}
	if id != pos.EventID {
		return protocol.ReasonDiverged, false
	}
	return "", false
}

// follow returns the events of evs that continue pos, in seq order and
// without a gap, or why pos cannot be continued. evs is a read of the log
// from pos.Seq when verify (check's), from pos.Seq+1 otherwise; the caller
// knows the log has events after pos.
func follow(pos protocol.Position, verify bool, evs []StoredEvent) ([]StoredEvent, string) {
	if verify {
		if len(evs) == 0 || evs[0].Seq != pos.Seq {
			// Within the kept range, yet gone: lost, not continued.
			return nil, protocol.ReasonPruned
		}
		if evs[0].ID != pos.EventID {
			return nil, protocol.ReasonDiverged
		}
		evs = evs[1:]
	}
	if len(evs) == 0 || evs[0].Seq != pos.Seq+1 {
		return nil, protocol.ReasonPruned
	}
	n := 1
	for n < len(evs) && evs[n].Seq == evs[n-1].Seq+1 {
		n++
	}
	return evs[:n], ""
}

// validPosition checks the shape of a position a client sent.
func validPosition(field string, p protocol.Position) error {
	if p.Seq < 0 || p.Seq > maxPositionSeq {
		return protocol.NewAPIError(protocol.CodeInput, "%s: seq %d is out of range", field, p.Seq)
	}
	if err := validToken(p.Epoch); err != nil {
		return protocol.NewAPIError(protocol.CodeInput, "%s: epoch %v", field, err)
	}
	if err := validToken(p.EventID); err != nil {
		return protocol.NewAPIError(protocol.CodeInput, "%s: event_id %v", field, err)
	}
	return nil
}

// validToken checks an epoch or event id: empty, or up to
// maxPositionToken bytes of letters, digits, '-' and '_'.
func validToken(s string) error {
	if len(s) > maxPositionToken {
		return fmt.Errorf("is longer than %d bytes", maxPositionToken)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("has the invalid character %q at byte %d", c, i)
		}
	}
	return nil
}
