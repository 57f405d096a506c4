package server

import (
	"net/http"
	"strconv"

	"github.com/outpostsync/outpost/protocol"
)

// historyKind reads one page of a channel's current rows of its kind: up
// to limit rows with a key below before, newest first, into page (oldest
// first). It returns the lowest key read, or 0 when it read none.
type historyKind func(tx Tx, cid string, before int64, limit int, page *protocol.HistoryPage) (int64, error)

// historyKinds are the kinds of state GET /channels/{cid}/history pages.
// A new kind of state (a collection's records) is one entry here.
var historyKinds = map[string]historyKind{
	protocol.HistoryMessages: messagesHistory,
}

// messagesHistory pages a channel's messages by seq, with their
// reactions. Messages hold only what exists: a hard delete, a truncate or
// a redaction removes the row, so no page returns it.
func messagesHistory(tx Tx, cid string, before int64, limit int, page *protocol.HistoryPage) (int64, error) {
	msgs, err := tx.Messages(cid, MessagesPage{Limit: limit, BeforeSeq: before})
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	for _, m := range msgs {
		if len(m.ReactionCounts) == 0 {
			continue // no reaction to read
		}
		rs, err := tx.Reactions(m.ID)
		if err != nil {
			return 0, err
		}
		page.Reactions = append(page.Reactions, rs...)
	}
	page.Messages = msgs
	return msgs[0].Seq, nil
}

// handleHistory answers GET /channels/{cid}/history: one page of the
// channel's current rows of a kind, read by key in one snapshot, with the
// log's head at that snapshot. Nothing is held between pages: each is a
// request of its own, and the client joins them by their key ranges.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, user string) error {
	req, err := historyRequest(r)
	if err != nil {
		return err
	}
	read := historyKinds[req.Kind]
	return viewJSON(s, w, r, func(tx Tx) (protocol.HistoryPage, error) {
		ch, err := channelFor(tx, r.PathValue("cid"), user)
		if ae, ok := protocol.AsAPIError(err); ok && (ae.Code == protocol.CodeNotFound || ae.Code == protocol.CodeNotAllowed) {
			return protocol.HistoryPage{Status: protocol.ChannelInaccessible, Kind: req.Kind}, nil
		}
		if err != nil {
			return protocol.HistoryPage{}, err
		}
		log, err := tx.ChannelLog(ch.CID)
		if err != nil {
			return protocol.HistoryPage{}, err
		}
		pos := head(log)
		page := protocol.HistoryPage{Status: protocol.ChannelOK, Kind: req.Kind, Position: &pos}
		if req.Epoch != "" && req.Epoch != log.Epoch {
			page.Status = protocol.ChannelReset
			return page, nil
		}
		// The page covers the keys up to To: just below the cursor, and
		// never past the head the page reports.
		page.To = pos.Seq
		if req.Before > 0 {
			page.To = min(req.Before-1, pos.Seq)
		}
		page.From = 1
		if page.To < 1 {
			page.To = 0 // before the start: an empty page
			return page, nil
		}
		low, err := read(tx, ch.CID, page.To+1, req.Limit, &page)
		if err != nil {
			return protocol.HistoryPage{}, err
		}
		if n := len(page.Messages); n == req.Limit {
			page.From = low // cut at the limit: older rows may follow
		}
		return page, nil
	})
}

// historyRequest reads and checks the query of a history request.
func historyRequest(r *http.Request) (protocol.HistoryRequest, error) {
	q := r.URL.Query()
	req := protocol.HistoryRequest{Kind: q.Get("kind"), Epoch: q.Get("epoch")}
	if req.Kind == "" {
		req.Kind = protocol.HistoryMessages
	}
	if _, ok := historyKinds[req.Kind]; !ok {
		return req, protocol.NewAPIError(protocol.CodeInput, "kind %q: no such kind of history", req.Kind)
	}
	if err := validToken(req.Epoch); err != nil {
		return req, protocol.NewAPIError(protocol.CodeInput, "epoch %v", err)
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return req, protocol.NewAPIError(protocol.CodeInput, "before is not a seq")
		}
		req.Before = n
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return req, protocol.NewAPIError(protocol.CodeInput, "limit is not a number")
		}
		limit = n
	}
	var err error
	req.Limit, err = boundedInt("limit", limit, protocol.HistoryPageDefault, protocol.HistoryPageMax)
	return req, err
}
