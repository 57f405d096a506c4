// Package sse writes Server-Sent Events (the text/event-stream format of
// the HTML standard) and encodes the stream positions outpostd puts in
// their id fields.
//
// The framing is small enough to write here: github.com/tmaxmax/go-sse
// frames the same way, but its server side wants to own topics and replay,
// and its replay buffers live in memory, bounded by count only. Outpost
// replays from its event log, within the log's retention, and answers a
// position it cannot continue with an explicit reset, so the replay source
// is the server's own either way.
//
// Nothing in this package does I/O or keeps state; every function is safe
// for concurrent use.
package sse
