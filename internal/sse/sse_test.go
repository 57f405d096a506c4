package sse_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/sse"
	"github.com/outpostsync/outpost/protocol"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name, id, typ, data, want string
	}{
		{"full", "a/e/1", "message.new", `{"x":1}`, "id: a/e/1\nevent: message.new\ndata: {\"x\":1}\n\n"},
		{"no id", "", "typing.start", `{}`, "event: typing.start\ndata: {}\n\n"},
		{"lines", "", "", "a\nb\r\nc", "data: a\ndata: b\ndata: c\n\n"},
		{"empty", "", "", "", "data: \n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(sse.AppendEvent(nil, tt.id, tt.typ, []byte(tt.data))); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got, want := string(sse.AppendRetry(nil, 3*time.Second)), "retry: 3000\n\n"; got != want {
		t.Errorf("retry: got %q, want %q", got, want)
	}
	if got, want := string(sse.AppendComment(nil, "ping")), ": ping\n\n"; got != want {
		t.Errorf("comment: got %q, want %q", got, want)
	}
}

func TestCursor_RoundTrip(t *testing.T) {
	for _, c := range []sse.Cursor{
		nil,
		{{CID: "messaging:general", Epoch: "", Seq: 0}},
		{{CID: "messaging:a.b@c", Epoch: "e/1,x y%", Seq: 17}, {CID: "team:x", Epoch: "E2", Seq: 4}},
	} {
		text := c.String()
		if strings.ContainsAny(text, "\r\n\x00") {
			t.Fatalf("%q holds a line break", text)
		}
		got, err := sse.ParseCursor(text, protocol.ValidateCID)
		if err != nil {
			t.Fatalf("ParseCursor(%q): %v", text, err)
		}
		if got.String() != text || len(got) != len(c) {
			t.Errorf("round trip of %q gave %q", text, got)
		}
		for i := range c {
			if got[i] != c[i] {
				t.Errorf("entry %d: got %+v, want %+v", i, got[i], c[i])
			}
		}
	}
}

func TestParseCursor_Malformed(t *testing.T) {
	for _, s := range []string{
		"x", "a:b/e", "a:b/e/1/2", "a:b/e/-1", "a:b/e/01", "a:b/e/1x", "a:b/e/99999999999999999999",
		"nocolon/e/1", "a:b/%zz/1", "a:b/e/1,a:b/e/2", "a:b/e/1,", ",a:b/e/1",
		strings.Repeat("a:b/e/1,", sse.MaxChannels) + "c:d/e/1",
		strings.Repeat("x", sse.MaxCursorBytes+1),
	} {
		if _, err := sse.ParseCursor(s, protocol.ValidateCID); !errors.Is(err, sse.ErrBadCursor) {
			t.Errorf("ParseCursor(%.40q) = %v, want ErrBadCursor", s, err)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add("messaging:general/e1/17,messaging:random/e1/4")
	f.Add("a:b//0")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := sse.ParseCursor(s, protocol.ValidateCID)
		if err != nil {
			return
		}
		again, err := sse.ParseCursor(c.String(), protocol.ValidateCID)
		if err != nil || again.String() != c.String() {
			t.Fatalf("%q -> %q does not parse back: %v", s, c.String(), err)
		}
	})
}
