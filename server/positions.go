package server

import (
	"errors"
	"fmt"

	"github.com/outpostsync/outpost/protocol"
)

// Reasons a position cannot be continued, in ChannelSync.Reason.
const (
	ReasonNoPosition = "no position" // the client has none (zero position)
	ReasonEpoch      = "epoch"       // the log was re-created or cut: another history
	ReasonAhead      = "ahead"       // past the log's end: the server lost events it had
	ReasonPruned     = "pruned"      // retention removed events after the position
	ReasonDiverged   = "diverged"    // another event stands at the position's seq
)

// Bounds of a position a client sends.
const (
	maxPositionSeq   = 1 << 53 // the largest integer every JSON reader keeps exact
	maxPositionToken = 64      // bytes of an epoch or event id
)

// logReader reads one log, a channel's or a user's feed, as of a snapshot.
// Positions are checked, and heads made, by the same code for both.
type logReader struct {
	state  LogState
	idAt   func(seq int64) (string, error)
	events func(afterSeq int64, limit int) ([]StoredEvent, error)
}

func channelReader(tx Tx, st LogState) logReader {
	cid := st.Key
	return logReader{state: st,
		idAt:   func(seq int64) (string, error) { return tx.EventIDAt(cid, seq) },
		events: func(after int64, limit int) ([]StoredEvent, error) { return tx.ChannelEvents(cid, after, limit) }}
}

func feedReader(tx Tx, st LogState) logReader {
	user := st.Key
	return logReader{state: st,
		idAt:   func(seq int64) (string, error) { return tx.FeedEventIDAt(user, seq) },
		events: func(after int64, limit int) ([]StoredEvent, error) { return tx.FeedEvents(user, after, limit) }}
}

// eventID returns the id of the event at seq: "" at 0, PrunedEventID at
// PrunedSeq. ErrNotFound when the log holds no event there.
func (l logReader) eventID(seq int64) (string, error) {
	switch {
	case seq == 0:
		return "", nil
	case seq == l.state.PrunedSeq:
		return l.state.PrunedEventID, nil
	}
	return l.idAt(seq)
}

// head returns the position at the log's last event.
func (l logReader) head() (protocol.Position, error) {
	id, err := l.eventID(l.state.LastSeq)
	if err != nil {
		return protocol.Position{}, fmt.Errorf("server: head of %s: %w", l.state.Key, err)
	}
	return protocol.Position{Epoch: l.state.Epoch, Seq: l.state.LastSeq, EventID: id}, nil
}

// check returns why pos cannot be continued in the log, or "" if it can:
// the log holds every event after it.
func (l logReader) check(pos protocol.Position) (string, error) {
	switch {
	case pos.Epoch != l.state.Epoch:
		if pos.IsZero() {
			return ReasonNoPosition, nil
		}
		return ReasonEpoch, nil
	case pos.Seq > l.state.LastSeq:
		return ReasonAhead, nil
	case pos.Seq < l.state.PrunedSeq:
		return ReasonPruned, nil
	case pos.Seq == 0:
		return "", nil
	}
	id, err := l.eventID(pos.Seq)
	if errors.Is(err, ErrNotFound) {
		// Within the kept range, yet gone: lost, not continued.
		return ReasonPruned, nil
	}
	if err != nil {
		return "", err
	}
	if id != pos.EventID {
		return ReasonDiverged, nil
	}
	return "", nil
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
