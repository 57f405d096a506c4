package protocol

import "time"

// Hello is what a server says of itself to every client, before anything
// else: it rides the first frame of each WebSocket (the first
// health.check, Event.Hello) and every sync answer (SyncResponse.Hello).
// A client stores it, so that an offline start knows it too.
//
// Fields are added to Hello without a new protocol version: a client
// ignores the fields it does not know, and a field a server does not send
// is its zero value.
type Hello struct {
	// ServerID names the server's database: made once with it, shared by
	// every node of a cluster on it, kept by a restored copy of it, new
	// for a new database. A store is bound to the ServerID it first
	// synced with, not to the URL it reached it by.
	ServerID string `json:"server_id"`
	// RetentionMS is the server's retention window in milliseconds: a
	// sync whose last_sync_at is older is answered CodeSyncPositionTooOld.
	RetentionMS int64 `json:"retention_ms"`
	// RulesHash is the hex SHA-256 of the record rules in force, and
	// RulesVersion their version; both empty for free-form records (no
	// rules installed). Every node of a cluster says the same.
	RulesHash    string `json:"rules_hash,omitempty"`
	RulesVersion int64  `json:"rules_version,omitempty"`
	// SyncPageMax is the largest SyncRequest.Limit the server takes;
	// zero (or less) from a server that does not say. A client paging
	// through a long gap asks for pages this large.
	SyncPageMax int `json:"sync_page_max,omitempty"`
}

// Retention returns the retention window as a duration.
func (h Hello) Retention() time.Duration { return time.Duration(h.RetentionMS) * time.Millisecond }

// HeaderServerID carries, on a client's requests, the ServerID its store
// is bound to. A server with another id refuses the request before doing
// anything, with CodeServerMismatch. A request without it (a store not
// bound yet, a tool such as curl) is served.
const HeaderServerID = "Outpost-Server-Id"

// MaxServerIDLen is the longest ServerID a client accepts.
const MaxServerIDLen = 128

// Validate checks a hello a client received: a server id of sensible
// length and a retention window that is not negative.
func (h Hello) Validate() error {
	switch {
	case h.ServerID == "":
		return &ValidationError{Field: "hello.server_id", Reason: "is empty"}
	case len(h.ServerID) > MaxServerIDLen:
		return &ValidationError{Field: "hello.server_id", Reason: "is too long"}
	case h.RetentionMS < 0:
		return &ValidationError{Field: "hello.retention_ms", Reason: "is negative"}
	}
	return nil
}
