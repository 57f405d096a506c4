package server

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// A write that hangs is cut off by closing the socket once it has taken
// longer than the timeout.
func TestTimedWriter_HungWriteIsClosed(t *testing.T) {
	closed := make(chan struct{})
	var closes atomic.Int32
	w := newTimedWriter(func([]byte) error {
		<-closed // hangs until the socket is closed
		return errors.New("use of closed connection")
	}, func() {
		if closes.Add(1) == 1 {
			close(closed)
		}
	}, 50*time.Millisecond)
	defer w.stop()
	done := make(chan bool)
	go func() { done <- w.write([]byte("x")) }()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("a hung write reported success")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a hung write was not cut off")
	}
}

// Writes that each end in time never trip it, however long they take
// together.
func TestTimedWriter_TimelyWritesPass(t *testing.T) {
	var closes atomic.Int32
	w := newTimedWriter(func([]byte) error {
		time.Sleep(10 * time.Millisecond) // a write that takes a while, well within the timeout
		return nil
	}, func() { closes.Add(1) }, 400*time.Millisecond)
	defer w.stop()
	for i := 0; i < 60; i++ { // 600 ms in all, past the timeout
		if !w.write([]byte("x")) {
			t.Fatalf("write %d failed", i)
		}
	}
	if n := closes.Load(); n != 0 {
		t.Fatalf("the socket was closed %d times", n)
	}
}
