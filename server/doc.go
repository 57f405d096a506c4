// Package server is the reference Outpost sync server, as an http.Handler.
//
// It keeps, behind a Store, the state of channels, members, messages,
// reactions, reads and users, and an ordered event log per channel: every
// write changes the state and appends its event in one transaction, then
// fans the event out to the connected members over WebSocket. POST /sync
// answers "what happened in these channels since T" in pages, with a
// checkpoint that can never skip an event. docs/PROTOCOL.md describes the
// wire protocol.
//
// Browsers follow the same live events over GET /events, Server-Sent
// Events whose ids are stream positions: a reconnect replays from the
// event log what it missed (events.go). The server also serves a small web
// page at / (web/, embedded), checks browser origins and answers CORS
// (Config.AllowedOrigins), and gives operators /metrics (Prometheus),
// /readyz and one log line per request.
//
// Every request is authenticated with an HS256 token (package token), and
// every read and write checks channel membership. Anything a client sends
// gets a 2xx or a 4xx with a JSON protocol.APIError body; a 5xx is a bug.
//
// # Lifecycle
//
// New returns a Server that serves at once; Close stops its background
// retention loop and closes its WebSockets and event streams. The Store is
// the caller's.
package server
