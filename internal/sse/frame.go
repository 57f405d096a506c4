package sse

import (
	"bytes"
	"strconv"
	"time"
)

// AppendEvent appends one event to buf: an optional id, an optional event
// type, and data, one data line per line of data. A data value with no
// newlines (JSON) is one line. id and typ must not hold CR or LF (the
// cursor's String and the server's type names never do).
func AppendEvent(buf []byte, id, typ string, data []byte) []byte {
	if id != "" {
		buf = append(buf, "id: "...)
		buf = append(buf, id...)
		buf = append(buf, '\n')
	}
	if typ != "" {
		buf = append(buf, "event: "...)
		buf = append(buf, typ...)
		buf = append(buf, '\n')
	}
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		buf = append(buf, "data: "...)
		buf = append(buf, bytes.TrimSuffix(line, []byte{'\r'})...)
		buf = append(buf, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(buf, '\n')
}

// AppendComment appends a comment line, which clients ignore: a heartbeat
// that keeps proxies from closing an idle stream.
func AppendComment(buf []byte, text string) []byte {
	buf = append(buf, ": "...)
	buf = append(buf, text...)
	return append(buf, '\n', '\n')
}

// AppendRetry appends a retry field: how long a client waits before it
// reconnects after the stream ends.
func AppendRetry(buf []byte, d time.Duration) []byte {
	buf = append(buf, "retry: "...)
	buf = strconv.AppendInt(buf, d.Milliseconds(), 10)
	return append(buf, '\n', '\n')
}
