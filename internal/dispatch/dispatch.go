package dispatch

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
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
	warnAt   int
	done     chan struct{} // closed when the goroutine ends
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
// be called from a callback. It is idempotent.
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

func (d *Queue) call(f func()) { Call(d.log, d.what, f) }

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
