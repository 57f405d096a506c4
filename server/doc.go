// Package server is the reference Outpost sync server, as an http.Handler.
//
// It keeps, behind a Store, the state of channels, members, messages,
// reactions, reads, users and the apps' records, an ordered event log per
// channel, and a
// membership feed per user: every write changes the state and appends its
// events in one transaction, then a Broker fans them out to the connected
// recipients over WebSocket. POST /sync answers "what follows these
// positions" (the client's place in its feed and in each channel's log)
// in pages read from one snapshot, and resets only the channels whose
// position cannot be continued. docs/PROTOCOL.md describes the wire
// protocol.
//
// Browsers follow the same live events over GET /events, Server-Sent
// Events whose ids are stream positions: a reconnect replays from the
// event log what it missed (events.go). The server also serves a small web
// page at / (web/, embedded), checks browser origins and answers CORS
// (Config.AllowedOrigins), and gives operators /metrics (Prometheus),
// /readyz and one log line per request.
//
// Every request is authenticated with an HS256 token (package token), sent
// in the Authorization header (in the URL only where no header can be set:
// auth.go). Every read and write checks channel membership, and what a
// member's role allows: the rules are one table, in roles.go. Each user's
// writes, syncs and connections are rate limited (ratelimit.go). Anything
// a client sends gets a 2xx or a 4xx with a JSON protocol.APIError body; a
// 5xx is a bug.
//
// Records (records.go) are the apps' own data, in named collections in a
// channel; the record rules (rules.go: a JSON Schema per collection, a
// size bound, a conflict rule, who may write) live in the Store, so that
// every node judges a write alike, and Config.RecordCheck may refuse a
// write by the app's own logic.
//
// # Lifecycle
//
// New returns a Server that serves at once; Close stops its background
// retention loop and closes its WebSockets and event streams. The Store is
// the caller's.
package server
