package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// An idle stream holds no write buffer: after each flush, of a few live
// events or of a replay page, the stream lets its buffer go, and what it
// queued reached the client.
func TestStream_FlushLetsGoOfTheBuffer(t *testing.T) {
	rec := httptest.NewRecorder()
	st := &stream{s: &Server{cfg: Config{StreamWriteTimeout: time.Second}},
		dst: &flushWriter{w: rec, rc: http.NewResponseController(rec)}}
	want := 0
	for _, size := range []int{100, 64 << 10, 2 << 10, 1 << 20} {
		st.buf = append(st.buffer(), bytes.Repeat([]byte("x"), size)...)
		want += size
		if !st.flush() {
			t.Fatalf("flush of %d bytes failed", size)
		}
		if st.buf != nil || st.bufp != nil {
			t.Errorf("after a flush of %d bytes the stream holds a buffer of capacity %d", size, cap(st.buf))
		}
		if rec.Body.Len() != want {
			t.Fatalf("the client has %d bytes, want %d", rec.Body.Len(), want)
		}
	}
}
