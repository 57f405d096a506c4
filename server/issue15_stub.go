package server

// This file stands in, on branch issue15, for what the sync v2 server
// (branch v2server) brings: delete it at merge.

import (
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

// LogState is the state of one channel's event log.
type LogState struct {
	Epoch     string
	LastSeq   int64
	PrunedSeq int64
}

// handleSync answers 501 until the v2 sync handler lands.
func (s *Server) handleSync(w http.ResponseWriter, r *http.Request, user string) error {
	return &protocol.APIError{Code: protocol.CodeInternal, StatusCode: http.StatusNotImplemented,
		Message: "sync v2 is not on this branch"}
}
