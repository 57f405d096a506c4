package client

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// dispatcher runs callbacks one at a time, in the order they were queued, on
// a goroutine of its own, so that no callback runs on the read loop or under
// a lock of the client, and a slow one delays only the callbacks after it.
//
// The queue is unbounded: queueing never blocks, so the read loop and its
// health checks carry on however slow a handler is. Memory grows with the
// backlog instead; the dispatcher logs a warning each time the backlog
// doubles past queueWarnLen.
type dispatcher struct {
	log *slog.Logger

	mu       sync.Mutex // guards the fields below
	queue    []func()
	wake     chan struct{} // buffered(1): a push happened
	started  bool
	stopping bool
	warnAt   int
	done     chan struct{} // closed when the goroutine ends
}

const queueWarnLen = 1024

func newDispatcher(log *slog.Logger) *dispatcher {
	return &dispatcher{
		log:    log,
		wake:   make(chan struct{}, 1),
		warnAt: queueWarnLen,
		done:   make(chan struct{}),
	}
}

// start starts the goroutine, once.
func (d *dispatcher) start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.stopping {
		return
	}
	d.started = true
	go d.loop()
}

// push queues f. It never blocks. After stop, f is dropped.
func (d *dispatcher) push(f func()) {
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, f)
	if n := len(d.queue); n >= d.warnAt {
		d.warnAt *= 2
		d.log.Warn("outpost client: event handlers are falling behind", "queued", n)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// stop runs what is queued, ends the goroutine and waits for it. It must not
// be called from a callback. It is idempotent.
func (d *dispatcher) stop() {
	d.mu.Lock()
	started := d.started
	d.stopping = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	if started {
		<-d.done
	}
}

func (d *dispatcher) loop() {
	defer close(d.done)
	for {
		d.mu.Lock()
		batch, stopping := d.queue, d.stopping
		d.queue = nil
		if len(batch) == 0 && d.warnAt > queueWarnLen {
			d.warnAt = queueWarnLen
		}
		d.mu.Unlock()
		for i, f := range batch {
			batch[i] = nil // let the event be collected once handled
			safeCall(d.log, f)
		}
		if len(batch) > 0 {
			continue
		}
		if stopping {
			return
		}
		<-d.wake
	}
}

// safeCall calls f, recovering and logging a panic so that one bad handler
// does not stop the others.
func safeCall(log *slog.Logger, f func()) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("outpost client: event handler panicked",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	f()
}
