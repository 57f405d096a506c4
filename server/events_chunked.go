package server

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// chunkedConn is an event stream's HTTP/1.1 connection, taken over from
// net/http once it has written the response's headers: the stream writes
// the body's chunks itself, as net/http would (one chunk a flush, the
// zero-length chunk at the end), and then closes the connection. It holds
// no buffer while the stream is idle, where net/http keeps a 4 KiB read
// buffer, a 4 KiB write buffer and a 2 KiB response buffer per
// connection, and the handler's goroutine.
//
// A goroutine reads the connection, only to notice the client leave, as
// net/http's background read does while a handler runs; what a client
// sends on a stream's connection is discarded.
type chunkedConn struct {
	conn     net.Conn
	broken   bool // a write failed: the connection is cut without the last chunk
	readDone chan struct{}
}

// hijackChunked writes the response's headers and takes over the
// connection, or returns nil, having written nothing, where net/http would
// not frame the body as HTTP/1.1 chunks (HTTP/2, HTTP/1.0, HEAD, a request
// with a body) or cannot give the connection up. gone is called, from
// another goroutine, when the client closes its side of the connection.
//
// The caller must have called WriteHeader(http.StatusOK) with a
// Content-Type set and no Content-Length.
func hijackChunked(w http.ResponseWriter, r *http.Request, gone func()) *chunkedConn {
	if r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor < 1 ||
		r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return nil
	}
	// Hijack writes the pending headers first, chunked as for any body
	// of unknown length on HTTP/1.1.
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil
	}
	cc := &chunkedConn{conn: conn, readDone: make(chan struct{})}
	go func() {
		defer close(cc.readDone)
		b := make([]byte, 64)
		for {
			if _, err := conn.Read(b); err != nil {
				gone()
				return
			}
		}
	}()
	return cc
}

var crlf = []byte("\r\n")

// write sends p as one chunk by deadline: its length in lowercase hex,
// CRLF, p, CRLF, in one system call where the connection takes a vector.
func (cc *chunkedConn) write(p []byte, deadline time.Time) error {
	_ = cc.conn.SetWriteDeadline(deadline)
	var size [18]byte
	bufs := net.Buffers{append(strconv.AppendInt(size[:0], int64(len(p)), 16), crlf...), p, crlf}
	if _, err := bufs.WriteTo(cc.conn); err != nil {
		cc.broken = true
		return err
	}
	return nil
}

// chunkedCloseTimeout bounds the write of the last chunk: five bytes to a
// client whose earlier writes all went through.
const chunkedCloseTimeout = 5 * time.Second

// close ends the body with the zero-length chunk (unless a write failed),
// closes the connection and waits for the reading goroutine.
func (cc *chunkedConn) close() {
	if !cc.broken {
		_ = cc.conn.SetWriteDeadline(time.Now().Add(chunkedCloseTimeout))
		_, _ = cc.conn.Write([]byte("0\r\n\r\n"))
	}
	_ = cc.conn.Close()
	<-cc.readDone
}
