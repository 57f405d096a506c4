//go:build issue15_v1sync

package server

import (
	"encoding/base64"
	"encoding/json"
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

// syncPage is protocol.SyncResponse with its events already encoded.
type syncPage struct {
	Events               []json.RawMessage `json:"events"`
	InaccessibleChannels []string          `json:"inaccessible_channels,omitempty"`
	NextCursor           string            `json:"next_cursor,omitempty"`
	SyncedAt             time.Time         `json:"synced_at"`
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
	if req.LastSyncAt.After(watermark) {
		// A checkpoint this server could not have given out yet: its log
		// was restored from an older copy, or its clock went back. Events
		// it writes now may be stamped before the checkpoint, and a sync
		// from there would skip them for good.
		return protocol.NewAPIError(protocol.CodeSyncHistoryLost,
			"last_sync_at is later than the server's log: the server lost history or its clock went back; reset and query channels")
	}
	// Memberships, prune marks and events come from one snapshot, so a
	// prune that commits meanwhile cannot take events this page needs
	// without the page seeing its mark. Inaccessible covers both "not a
	// member" and "no such channel", so a non-member cannot probe which
	// channels exist.
	var readable, inaccessible []string
	var evs []StoredEvent
	err = s.view(r.Context(), func(tx Tx) error {
		readable, inaccessible, evs = nil, nil, nil
		cids := uniqueIDs(req.ChannelCIDs)
		member, err := tx.Memberships(user, cids)
		if err != nil {
			return err
		}
		for _, cid := range cids {
			if member[cid] {
				readable = append(readable, cid)
			} else {
				inaccessible = append(inaccessible, cid)
			}
		}
		pruned, err := tx.PrunedAt(readable)
		if err != nil {
			return err
		}
		for cid, at := range pruned {
			if at.After(req.LastSyncAt) {
				return protocol.NewAPIError(protocol.CodeSyncHistoryLost,
					"events of %s after last_sync_at were pruned: reset and query channels", cid)
			}
		}
		evs, err = tx.EventsAfter(readable, req.LastSyncAt, afterPos, limit+1)
		return err
	})
	if err != nil {
		return err
	}
	// The events go out as the log stored them, without a decode and
	// encode round trip.
	resp := syncPage{Events: make([]json.RawMessage, 0, len(evs)), InaccessibleChannels: inaccessible, SyncedAt: watermark}
	if len(evs) > limit {
		next := evs[limit]
		evs = evs[:limit]
		resp.NextCursor = encodeCursor(evs[len(evs)-1].Pos)
		// Stop the checkpoint short of the first event not returned, so
		// a sync started from it again repeats, never skips.
		if before := next.CreatedAt.Add(-time.Microsecond); before.Before(resp.SyncedAt) {
			resp.SyncedAt = before
		}
	}
	if resp.SyncedAt.Before(req.LastSyncAt) {
		resp.SyncedAt = req.LastSyncAt
	}
	for _, e := range evs {
		resp.Events = append(resp.Events, e.Payload)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
