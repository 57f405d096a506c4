// Package sse writes Server-Sent Events (the text/event-stream format of
// the HTML standard) and encodes the stream positions outpostd puts in
// their id fields.
//
// The framing is small enough to write here. github.com/tmaxmax/go-sse
// frames the same way, but its server side wants to own topics and
// replay, and its replayers keep events in memory, bounded by count
// (FiniteReplayer) or by age (ValidReplayer), not both, and answer an id
// they do not hold by replaying nothing. Outpost replays from its event
// log, within the log's retention, and answers a position it cannot
// continue with an explicit reset, so the replay source is the server's
// own either way, and the library would bring little but a dependency.
//
// Nothing in this package does I/O or keeps state; every function is safe
// for concurrent use.
package sse
