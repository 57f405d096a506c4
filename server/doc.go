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
// Every request is authenticated with an HS256 token (package token), sent
// in the Authorization header (in the URL only where no header can be set:
// auth.go). Every read and write checks channel membership, and what a
// member's role allows: the rules are one table, in roles.go. Each user's
// writes, syncs and connections are rate limited (ratelimit.go). Anything
// a client sends gets a 2xx or a 4xx with a JSON protocol.APIError body; a
// 5xx is a bug.
//
// # Lifecycle
//
// New returns a Server that serves at once; Close stops its background
// retention loop and closes its WebSockets. The Store is the caller's.
package server
