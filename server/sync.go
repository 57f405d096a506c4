package server

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

const cursorPrefix = "v1:"

func encodeCursor(pos int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(pos, 10)))
}

func decodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil && strings.HasPrefix(string(raw), cursorPrefix) {
		if pos, perr := strconv.ParseInt(strings.TrimPrefix(string(raw), cursorPrefix), 10, 64); perr == nil && pos >= 0 {
			return pos, nil
		}
	}
	return 0, protocol.NewAPIError(protocol.CodeInput, "cursor is not one this server gave out")
}

// handleSync answers POST /sync: the events after last_sync_at in the
// channels the user may read, in commit order, one page at a time.
func (s *Server) handleSync(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.SyncRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.LastSyncAt.IsZero() {
		return protocol.NewAPIError(protocol.CodeInput, "last_sync_at is required")
	}
	if len(req.ChannelCIDs) > s.cfg.MaxSyncChannels {
		return protocol.NewAPIError(protocol.CodeInput, "at most %d channel_cids per request", s.cfg.MaxSyncChannels)
	}
	for _, cid := range req.ChannelCIDs {
		if err := protocol.ValidateCID(cid); err != nil {
			return protocol.NewAPIError(protocol.CodeInput, "channel_cids: %v", err)
		}
	}
	limit, err := boundedInt("limit", req.Limit, s.cfg.SyncPageDefault, s.cfg.SyncPageMax)
	if err != nil {
		return err
	}
	afterPos, err := decodeCursor(req.Cursor)
	if err != nil {
		return err
	}
	if req.LastSyncAt.Before(s.cfg.Now().Add(-s.cfg.Retention)) {
		return protocol.NewAPIError(protocol.CodeSyncPositionTooOld,
			"last_sync_at is older than the %s retention window: reset and query channels", s.cfg.Retention)
	}

	// The watermark comes first: nothing that commits after it can have a
	// created_at at or before it.
	watermark, err := s.store.Watermark(r.Context())
	if err != nil {
		return err
	}
	var readable []string
	resp := protocol.SyncResponse{Events: []protocol.Event{}}
	err = s.view(r.Context(), func(tx Tx) error {
		for _, cid := range uniqueIDs(req.ChannelCIDs) {
			if _, err := channelFor(tx, cid, user); err != nil {
				if _, ok := protocol.AsAPIError(err); ok {
					resp.InaccessibleChannels = append(resp.InaccessibleChannels, cid)
					continue
				}
				return err
			}
			readable = append(readable, cid)
		}
		return nil
	})
	if err != nil {
		return err
	}
	pruned, err := s.store.PrunedAt(r.Context(), readable)
	if err != nil {
		return err
	}
	for cid, at := range pruned {
		if at.After(req.LastSyncAt) {
			return protocol.NewAPIError(protocol.CodeSyncHistoryLost,
				"events of %s after last_sync_at were pruned: reset and query channels", cid)
		}
	}
	evs, err := s.store.EventsAfter(r.Context(), readable, req.LastSyncAt, afterPos, limit+1)
	if err != nil {
		return err
	}
	resp.SyncedAt = watermark
	if len(evs) > limit {
		next := evs[limit]
		evs = evs[:limit]
		resp.NextCursor = encodeCursor(evs[len(evs)-1].Pos)
		// Stop the checkpoint short of the first event not returned, so
		// a sync started from it again repeats, never skips.
		if before := next.Event.CreatedAt.Add(-time.Microsecond); before.Before(resp.SyncedAt) {
			resp.SyncedAt = before
		}
	}
	if resp.SyncedAt.Before(req.LastSyncAt) {
		resp.SyncedAt = req.LastSyncAt
	}
	for _, e := range evs {
		resp.Events = append(resp.Events, e.Event)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
