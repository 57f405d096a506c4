package apitest

import (
	"net"
	"testing"
)

// DeadURL returns the http URL of a closed local listener: nothing answers
// there, and a dial is refused at once.
func DeadURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}
