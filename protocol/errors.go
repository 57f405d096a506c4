package protocol

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error codes carried in APIError.Code: below 60 a request's trouble; 60
// and up the sync's (a position the server cannot serve, a protocol
// version it does not speak).
const (
	// CodeInternal is a server bug (500). Temporary: retry.
	CodeInternal = -1
	// CodeInput: the request is malformed or a field is invalid (400).
	CodeInput = 4
	// CodeAuth: the token is missing, malformed, wrongly signed or names
	// no user (401).
	CodeAuth = 5
	// CodeRateLimited: too many requests (429); wait for Retry-After.
	CodeRateLimited = 9
	// CodeNotFound: the channel, message or reaction does not exist (404).
	CodeNotFound = 16
	// CodeNotAllowed: the user may not do this, e.g. is not a member (403).
	CodeNotAllowed = 17
	// CodePayloadTooBig: the request body is over the server's limit (413).
	CodePayloadTooBig = 22
	// CodeTimeout: the request took too long on the server (408).
	// Temporary: retry.
	CodeTimeout = 23
	// CodeTokenExpired: the token was valid but has expired (401). A
	// client with a token provider gets a new token and retries.
	CodeTokenExpired = 40
	// CodeConflict: the write clashes with the stored state, e.g. a
	// message id reused for another channel or user (409).
	CodeConflict = 41
	// CodeUnsupportedMediaType: a JSON endpoint got a body whose
	// Content-Type is not application/json (415).
	CodeUnsupportedMediaType = 42
	// CodePreconditionFailed: a record write's if_version is not the
	// record's version on the server (412). The error carries the
	// server's record.
	CodePreconditionFailed = 43

	// CodeSyncPositionTooOld: the sync's last_sync_at is older than the
	// server's retention window (410). The client must reset its cache
	// (keeping its outbox).
	CodeSyncPositionTooOld = 60
	// CodeSyncHistoryLost: the server lost history the client's whole
	// cache depends on (410). The client must reset its cache. A loss in
	// one channel is answered per channel (ChannelReset), not with this.
	CodeSyncHistoryLost = 61
	// CodeProtocolVersion: the client speaks a protocol version the server
	// does not (400). Permanent: the client must be upgraded.
	CodeProtocolVersion = 62
	// CodeServerMismatch: the request's Outpost-Server-Id names another
	// server than this one (409): the client's store holds another
	// server's data. Permanent: nothing was done, and the client stops
	// syncing and sending (its outbox kept) until its store is pointed
	// at its own server or replaced.
	CodeServerMismatch = 63
)

// APIError is the JSON body of every error the server answers with, and the
// error the client SDK returns for it.
type APIError struct {
	Code       int    `json:"code"`
	Message    string `json:"message"`
	StatusCode int    `json:"status_code"`

	// Path is the JSON Pointer (RFC 6901), in the request's body, of the
	// value the error is about, when there is one: "/fields/title",
	// "/if_version", "/id" for the record id of the URL or op.
	Path string `json:"path,omitempty"`
	// Record is the server's current record, on the refusal of a record
	// write whose record exists (or is a tombstone).
	Record *Record `json:"record,omitempty"`
	// Conflict names the field of a patch refused by its collection's
	// conflict rule, with both values.
	Conflict *FieldConflict `json:"conflict,omitempty"`

	// RetryAfter is how long the server asked the client to wait (from the
	// Retry-After header of a 429 or 503). Not part of the JSON body.
	RetryAfter time.Duration `json:"-"`
}

// NewAPIError makes an APIError with the HTTP status that goes with code.
func NewAPIError(code int, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), StatusCode: StatusForCode(code)}
}

func (e *APIError) Error() string {
	return fmt.Sprintf("outpost api: %s (code %d, status %d)", e.Message, e.Code, e.StatusCode)
}

// Temporary reports whether the same request may succeed later: timeouts,
// rate limits and server errors are temporary; input, auth, not-found,
// not-allowed and sync-position errors are not.
func (e *APIError) Temporary() bool {
	switch e.Code {
	case CodeTimeout, CodeRateLimited, CodeInternal:
		return true
	case CodeInput, CodeAuth, CodeNotFound, CodeNotAllowed, CodePayloadTooBig,
		CodeTokenExpired, CodeConflict, CodePreconditionFailed, CodeSyncPositionTooOld, CodeSyncHistoryLost,
		CodeProtocolVersion, CodeServerMismatch:
		return false
	}
	return e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode >= 500
}

// NeedsReset reports whether the error means the client's sync position
// cannot be served and its local cache must be reset.
func (e *APIError) NeedsReset() bool {
	return e.Code == CodeSyncPositionTooOld || e.Code == CodeSyncHistoryLost
}

// StatusForCode returns the HTTP status the server answers with for code.
func StatusForCode(code int) int {
	switch code {
	case CodeInput, CodeProtocolVersion:
		return http.StatusBadRequest
	case CodeAuth, CodeTokenExpired:
		return http.StatusUnauthorized
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeNotFound:
		return http.StatusNotFound
	case CodeNotAllowed:
		return http.StatusForbidden
	case CodePayloadTooBig:
		return http.StatusRequestEntityTooLarge
	case CodeTimeout:
		return http.StatusRequestTimeout
	case CodeConflict, CodeServerMismatch:
		return http.StatusConflict
	case CodePreconditionFailed:
		return http.StatusPreconditionFailed
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case CodeSyncPositionTooOld, CodeSyncHistoryLost:
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

// AsAPIError returns the *APIError in err's chain, if there is one.
func AsAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}

// ValidationError says which field of a request or event is invalid.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return "protocol: " + e.Field + " " + e.Reason
}
