package sse

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Limits of a Cursor.
const (
	// MaxChannels is the most channels one stream, and so one Cursor,
	// may hold.
	MaxChannels = 32
	// MaxCursorBytes bounds the text of a Cursor a client sends back.
	MaxCursorBytes = 8 << 10
)

// ErrBadCursor is wrapped by every error of ParseCursor.
var ErrBadCursor = errors.New("sse: malformed Last-Event-ID")

// Pos is a place in one channel's event log: the log's epoch and the seq of
// the last event delivered (0: none yet).
type Pos struct {
	CID   string
	Epoch string
	Seq   int64
}

// Cursor is a stream position: where the stream stands in each of its
// channels. It travels as the id of every stored event the stream sends,
// so a client's Last-Event-ID says where it stands in all of them.
//
// Its text is one "cid/epoch/seq" entry per channel, joined by ",", the
// epoch path-escaped: "messaging:general/e1/17,messaging:random/e1/4". A
// CID holds neither "/" nor ",".
type Cursor []Pos

// String returns the Cursor's text, as ParseCursor reads it.
func (c Cursor) String() string {
	var b strings.Builder
	for i, p := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.CID)
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p.Epoch))
		b.WriteByte('/')
		b.WriteString(strconv.FormatInt(p.Seq, 10))
	}
	return b.String()
}

// Find returns the index of cid's entry, or -1.
func (c Cursor) Find(cid string) int {
	for i, p := range c {
		if p.CID == cid {
			return i
		}
	}
	return -1
}

// ParseCursor reads a Cursor's text. validCID checks each channel id; it
// may be nil. An empty text is the empty Cursor. Every error wraps
// ErrBadCursor.
func ParseCursor(s string, validCID func(string) error) (Cursor, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > MaxCursorBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadCursor, MaxCursorBytes)
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxChannels {
		return nil, fmt.Errorf("%w: more than %d channels", ErrBadCursor, MaxChannels)
	}
	c := make(Cursor, 0, len(parts))
	for _, part := range parts {
		f := strings.Split(part, "/")
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: %q is not cid/epoch/seq", ErrBadCursor, part)
		}
		if validCID != nil {
			if err := validCID(f[0]); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadCursor, err)
			}
		}
		epoch, err := url.PathUnescape(f[1])
		if err != nil {
			return nil, fmt.Errorf("%w: epoch %q: %v", ErrBadCursor, f[1], err)
		}
		seq, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || seq < 0 || (len(f[2]) > 1 && f[2][0] == '0') {
			return nil, fmt.Errorf("%w: seq %q is not a non-negative integer", ErrBadCursor, f[2])
		}
		if c.Find(f[0]) >= 0 {
			return nil, fmt.Errorf("%w: channel %s twice", ErrBadCursor, f[0])
		}
		c = append(c, Pos{CID: f[0], Epoch: epoch, Seq: seq})
	}
	return c, nil
}
