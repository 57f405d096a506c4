package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when a test calls Advance. The zero
// value is not usable; make one with NewFake.
type Fake struct {
	mu      sync.Mutex // guards the fields below
	now     time.Time
	armed   []*fakeTimer  // timers and tickers that have yet to fire
	changed chan struct{} // closed, then replaced, whenever armed changes
	seq     uint64        // orders timers armed for the same instant
}

// NewFake returns a Fake whose time starts at start, or at a fixed instant
// (2024-01-01 00:00 UTC) when start is zero, so that tests are reproducible.
func NewFake(start time.Time) *Fake {
	if start.IsZero() {
		start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake's current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns the fake time elapsed since t.
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// NewTimer returns a timer that fires once Advance has moved the fake's time
// d or more past now.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armLocked(t, d)
	return t
}

// After returns the channel of a new timer that fires after d.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTicker returns a ticker with period d on the fake's time. It panics if
// d is not positive, as time.NewTicker does.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	t := &fakeTimer{f: f, c: make(chan time.Time, 1), period: d}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armLocked(t, d)
	return fakeTicker{t}
}

// Advance moves the fake's time forward by d and fires, in deadline order,
// every timer and ticker tick that falls due on the way. Each fire happens
// with the fake's time set to that deadline, so a timer sees the time it
// asked for. A negative d is treated as zero.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		d = 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	target := f.now.Add(d)
	for {
		t := f.earliestLocked()
		if t == nil || t.when.After(target) {
			break
		}
		f.now = t.when
		select {
		case t.c <- t.when:
		default: // a ticker whose last tick was not received drops this one
		}
		if t.period > 0 {
			t.when = t.when.Add(t.period)
			f.seq++
			t.seq = f.seq
		} else {
			f.disarmLocked(t)
		}
	}
	f.now = target
	f.notifyLocked()
}

// Pending returns how many timers and tickers are armed: made, not yet
// fired (tickers never finish) and not stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.armed)
}

// Next returns how long after now the earliest armed timer or ticker falls
// due, and false if none is armed. Tests use it to check a delay the code
// under test chose (a backoff, say) before advancing to it.
func (f *Fake) Next() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.earliestLocked()
	if t == nil {
		return 0, false
	}
	return t.when.Sub(f.now), true
}

// BlockUntil waits until at least n timers and tickers are armed, or ctx is
// done. It is how a test knows the code under test has reached the point
// where it waits on the clock, so that an Advance will not come too early.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		ok, changed := len(f.armed) >= n, f.changed
		f.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *Fake) armLocked(t *fakeTimer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	t.when = f.now.Add(d)
	f.seq++
	t.seq = f.seq
	if !t.armed {
		t.armed = true
		f.armed = append(f.armed, t)
	}
	if d == 0 && t.period == 0 {
		// Fire at once, as the time package does for d <= 0.
		select {
		case t.c <- f.now:
		default:
		}
		f.disarmLocked(t)
	}
	f.notifyLocked()
}

func (f *Fake) disarmLocked(t *fakeTimer) bool {
	if !t.armed {
		return false
	}
	t.armed = false
	for i, a := range f.armed {
		if a == t {
			f.armed = append(f.armed[:i], f.armed[i+1:]...)
			break
		}
	}
	f.notifyLocked()
	return true
}

func (f *Fake) earliestLocked() *fakeTimer {
	if len(f.armed) == 0 {
		return nil
	}
	sort.Slice(f.armed, func(i, j int) bool {
		a, b := f.armed[i], f.armed[j]
		if !a.when.Equal(b.when) {
			return a.when.Before(b.when)
		}
		return a.seq < b.seq
	})
	return f.armed[0]
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// fakeTimer is both the Timer and the Ticker of a Fake; period is zero for
// a Timer.
type fakeTimer struct {
	f      *Fake
	c      chan time.Time
	period time.Duration

	// Guarded by f.mu.
	when  time.Time
	seq   uint64
	armed bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.drainLocked()
	return t.f.disarmLocked(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.drainLocked()
	was := t.armed
	if t.period > 0 {
		t.period = d
	}
	t.f.armLocked(t, d)
	return was
}

// fakeTicker is the Ticker face of a fakeTimer with a period.
type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.c }
func (k fakeTicker) Stop()               { k.t.Stop() }
func (k fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	k.t.Reset(d)
}

// drainLocked drops a value sent and not received, so that after Stop or
// Reset no stale time is seen (the time package's behaviour since Go 1.23).
func (t *fakeTimer) drainLocked() {
	select {
	case <-t.c:
	default:
	}
}
