// Package protocol holds the wire types shared by the Outpost client SDK and
// the reference sync server: events, the entities they carry, the REST and
// sync request and response bodies, and the API error with its numeric code.
//
// Everything here is plain data encoded as JSON; the package does no I/O.
// docs/PROTOCOL.md describes how the types are used on the wire.
//
// # Versions
//
// Every entity a channel owns (the channel itself, its messages, reactions,
// members and reads) carries a Version: the per-channel sequence number
// (Event.Seq) of the last event that changed it. Versions only grow, so a
// store that keeps, for each row, the highest version it has seen can apply
// events more than once and out of order and still end in the same state.
// Users are not owned by a channel; their version is a counter of their own.
//
// # Decoding
//
// DecodeStrict and the Decode* helpers reject malformed JSON, trailing data
// and unknown fields with a *DecodeError, so bad input is caught at the edge
// instead of turning into half-filled structs.
package protocol
