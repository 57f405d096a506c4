package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Queue runs callbacks one at a time, in the order they were queued, on a
// goroutine of its own, so that no callback runs on a network loop or under
// its owner's lock, and a slow one delays only the callbacks after it.
//
// The queue is unbounded: queueing never blocks, so the read loop and its
// health checks carry on however slow a callback is. Memory grows with the
// backlog instead; the dispatcher logs a warning each time the backlog
// doubles past queueWarnLen.
type Queue struct {
	log  *slog.Logger
	what string // what the callbacks are, for logs

	mu       sync.Mutex // guards the fields below
	queue    []func()
	wake     chan struct{} // buffered(1): a push happened
	started  bool
	stopping bool
	dropping bool // set by Abandon: what is queued is dropped
	warnAt   int
	done     chan struct{} // closed when the goroutine ends

	inCallback atomic.Bool // a callback is running
}

const queueWarnLen = 1024

// New returns a stopped Queue; what names its callbacks in logs (for
// example "outpost client: event handler").
func New(log *slog.Logger, what string) *Queue {
	return &Queue{
		log:    log,
		what:   what,
		wake:   make(chan struct{}, 1),
		warnAt: queueWarnLen,
		done:   make(chan struct{}),
	}
}

// Start starts the goroutine, once.
func (d *Queue) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.stopping {
		return
	}
	d.started = true
	go d.loop()
}

// Push queues f. It never blocks. After Stop, f is dropped.
func (d *Queue) Push(f func()) {
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, f)
	if n := len(d.queue); n >= d.warnAt {
		d.warnAt *= 2
		d.log.Warn(d.what+"s are falling behind", "queued", n)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Stop runs what is queued, ends the goroutine and waits for it. It must not
// be called from a callback (see InCallback and Abandon). It is idempotent.
func (d *Queue) Stop() {
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

// StopWithin is Stop bounded by ctx: when ctx ends first, what is still
// queued is dropped, the goroutine ends after the callback it runs (if
// any), and StopWithin returns ctx's error without waiting for it.
func (d *Queue) StopWithin(ctx context.Context) error {
	d.mu.Lock()
	started := d.started
	d.stopping = true
	d.mu.Unlock()
	d.poke()
	if !started {
		return nil
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		d.Abandon()
		return ctx.Err()
	}
}

// Abandon drops what is queued and lets the goroutine end after the
// callback it runs (if any), without waiting: the way for a callback to
// stop its own queue.
func (d *Queue) Abandon() {
	d.mu.Lock()
	d.stopping, d.dropping = true, true
	d.queue = nil
	d.mu.Unlock()
	d.poke()
}

// InCallback reports whether a callback of the queue is running: a Stop
// now, from that callback, would wait for itself.
func (d *Queue) InCallback() bool { return d.inCallback.Load() }

func (d *Queue) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Queue) loop() {
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
			if d.isDropping() {
				break
			}
			d.call(f)
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

func (d *Queue) call(f func()) {
	d.inCallback.Store(true)
	defer d.inCallback.Store(false)
	Call(d.log, d.what, f)
}

func (d *Queue) isDropping() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropping
}

// Call calls f, recovering and logging a panic (as "<what> panicked") so
// that one bad callback does not stop the others.
func Call(log *slog.Logger, what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			log.Error(what+" panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	f()
}
