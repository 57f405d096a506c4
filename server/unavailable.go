package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// ErrStoreUnavailable is wrapped by a Store's errors that mean its
// database cannot be reached now (a network store restarting, a lost
// connection): the request may succeed later. The server answers it with
// 503 and a temporary code, which clients retry, keeping their writes.
var ErrStoreUnavailable = errors.New("server: store unavailable")

// storeUnavailable is the answer to a request that failed on
// ErrStoreUnavailable.
func storeUnavailable() *protocol.APIError {
	return &protocol.APIError{Code: protocol.CodeTimeout, StatusCode: http.StatusServiceUnavailable,
		Message: "store unavailable, retry"}
}

// StoreInfo is implemented by Stores that can say what they are and
// whether their database answers now: GET /healthz reports it.
type StoreInfo interface {
	// Kind names the store: "sqlite", "postgres".
	Kind() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
}

// handleHealthz answers GET /healthz: the process serves, and, for a
// store that says (StoreInfo), which store it is and whether its
// database answers: 503 while it does not.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	info, ok := s.store.(StoreInfo)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := info.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable", "store": info.Kind(), "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "store": info.Kind()})
}
