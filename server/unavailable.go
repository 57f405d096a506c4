package server

import (
	"context"
	"errors"
	"net/http"

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
