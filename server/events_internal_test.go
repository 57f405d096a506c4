package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// An idle stream keeps no large write buffer: after a flush, one grown by
// a replay page (64 KiB here) is let go, and one of a few live events is
// kept for the next.
func TestStream_FlushLetsGoOfALargeBuffer(t *testing.T) {
	rec := httptest.NewRecorder()
	st := &stream{s: &Server{cfg: Config{StreamWriteTimeout: time.Second}}, w: rec, rc: http.NewResponseController(rec)}
	for _, tc := range []struct {
		size int
		kept bool
	}{{100, true}, {64 << 10, false}, {2 << 10, true}, {1 << 20, false}} {
		st.buf = append(st.buf[:0], bytes.Repeat([]byte("x"), tc.size)...)
		if !st.flush() {
			t.Fatalf("flush of %d bytes failed", tc.size)
		}
		if len(st.buf) != 0 || (cap(st.buf) > 0) != tc.kept {
			t.Errorf("after a flush of %d bytes the buffer holds %d, capacity %d; want it kept: %v", tc.size, len(st.buf), cap(st.buf), tc.kept)
		}
	}
}
