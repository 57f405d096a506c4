package syncmanager

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// dispatcher runs user callbacks one at a time, in order, on its own
// goroutine, so that no callback runs on the connection's read loop or
// under the manager's lock, and a slow or panicking one cannot stop sync.
type dispatcher struct {
	log *slog.Logger

	mu     sync.Mutex // guards the fields below
	queue  []func()
	closed bool
	wake   chan struct{}

	done chan struct{}
}

func newDispatcher(log *slog.Logger) *dispatcher {
	d := &dispatcher{log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

// post queues fn. It never blocks; after close it drops fn.
func (d *dispatcher) post(fn func()) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, fn)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		q := d.queue
		d.queue = nil
		closed := d.closed
		d.mu.Unlock()
		for _, fn := range q {
			d.call(fn)
		}
		if closed && len(q) == 0 {
			return
		}
		if len(q) == 0 {
			<-d.wake
		}
	}
}

func (d *dispatcher) call(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("syncmanager: a listener or callback panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// close runs what is queued, then stops the goroutine and waits for it.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	<-d.done
}
