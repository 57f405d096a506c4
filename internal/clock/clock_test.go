package clock_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/outpostsync/outpost/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func fired(c <-chan time.Time) (time.Time, bool) {
	select {
	case t := <-c:
		return t, true
	default:
		return time.Time{}, false
	}
}

func TestFake_TimerFiresOnlyWhenDue(t *testing.T) {
	f := clock.NewFake(time.Time{})
	start := f.Now()
	tm := f.NewTimer(time.Second)
	if got, want := f.Pending(), 1; got != want {
		t.Fatalf("Pending = %d, want %d", got, want)
	}
	f.Advance(999 * time.Millisecond)
	if _, ok := fired(tm.C()); ok {
		t.Fatal("timer fired early")
	}
	f.Advance(time.Millisecond)
	got, ok := fired(tm.C())
	if !ok {
		t.Fatal("timer did not fire when due")
	}
	if want := start.Add(time.Second); !got.Equal(want) {
		t.Errorf("fired with %v, want %v", got, want)
	}
	if got, want := f.Pending(), 0; got != want {
		t.Errorf("Pending after fire = %d, want %d", got, want)
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer = true, want false")
	}
}

func TestFake_StopAndReset(t *testing.T) {
	f := clock.NewFake(time.Time{})
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer = false, want true")
	}
	f.Advance(time.Hour)
	if _, ok := fired(tm.C()); ok {
		t.Fatal("stopped timer fired")
	}
	if tm.Reset(time.Minute) {
		t.Error("Reset of a stopped timer = true, want false")
	}
	f.Advance(time.Minute)
	if _, ok := fired(tm.C()); !ok {
		t.Fatal("reset timer did not fire")
	}

	// A fired value not yet received is dropped by Reset.
	tm.Reset(time.Second)
	f.Advance(time.Second)
	tm.Reset(time.Second)
	if _, ok := fired(tm.C()); ok {
		t.Fatal("stale value survived Reset")
	}
	f.Advance(time.Second)
	if _, ok := fired(tm.C()); !ok {
		t.Fatal("timer did not fire after Reset")
	}
}

func TestFake_ZeroDurationFiresAtOnce(t *testing.T) {
	f := clock.NewFake(time.Time{})
	if _, ok := fired(f.After(0)); !ok {
		t.Fatal("After(0) did not fire at once")
	}
	if got := f.Pending(); got != 0 {
		t.Errorf("Pending = %d, want 0", got)
	}
}

func TestFake_FiresInDeadlineOrderAtTheirTimes(t *testing.T) {
	f := clock.NewFake(time.Time{})
	start := f.Now()
	late := f.NewTimer(3 * time.Second)
	early := f.NewTimer(time.Second)
	f.Advance(10 * time.Second)
	e, ok1 := fired(early.C())
	l, ok2 := fired(late.C())
	if !ok1 || !ok2 {
		t.Fatalf("fired early=%v late=%v, want both", ok1, ok2)
	}
	if !e.Equal(start.Add(time.Second)) || !l.Equal(start.Add(3*time.Second)) {
		t.Errorf("fire times %v, %v; want +1s, +3s", e.Sub(start), l.Sub(start))
	}
	if got, want := f.Now(), start.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
}

func TestFake_TickerTicksAndDropsMissedTicks(t *testing.T) {
	f := clock.NewFake(time.Time{})
	start := f.Now()
	tk := f.NewTicker(time.Second)
	defer tk.Stop()
	f.Advance(time.Second)
	if got, ok := fired(tk.C()); !ok || !got.Equal(start.Add(time.Second)) {
		t.Fatalf("first tick = %v, %v", got, ok)
	}
	f.Advance(5 * time.Second) // five ticks due, receiver asleep: one kept
	if got, ok := fired(tk.C()); !ok || !got.Equal(start.Add(2*time.Second)) {
		t.Fatalf("kept tick = %v, %v; want the first missed one", got.Sub(start), ok)
	}
	if _, ok := fired(tk.C()); ok {
		t.Fatal("more than one missed tick kept")
	}
	if got, want := f.Pending(), 1; got != want {
		t.Errorf("Pending = %d, want %d (a ticker stays armed)", got, want)
	}
	tk.Reset(10 * time.Second)
	f.Advance(9 * time.Second)
	if _, ok := fired(tk.C()); ok {
		t.Fatal("ticker fired before its new period")
	}
	tk.Stop()
	if got := f.Pending(); got != 0 {
		t.Errorf("Pending after Stop = %d, want 0", got)
	}
}

func TestFake_NextAndBlockUntil(t *testing.T) {
	f := clock.NewFake(time.Time{})
	if _, ok := f.Next(); ok {
		t.Fatal("Next with nothing armed = ok")
	}
	ctx := testCtx(t)
	armed := make(chan clock.Timer)
	go func() { armed <- f.NewTimer(250 * time.Millisecond) }()
	if err := f.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	d, ok := f.Next()
	if !ok || d != 250*time.Millisecond {
		t.Fatalf("Next = %v, %v; want 250ms, true", d, ok)
	}
	tm := <-armed
	f.Advance(d)
	if _, ok := fired(tm.C()); !ok {
		t.Fatal("timer did not fire after Advance(Next())")
	}

	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.BlockUntil(short, 5); err == nil {
		t.Fatal("BlockUntil with a done ctx = nil, want an error")
	}
}

func TestReal(t *testing.T) {
	c := clock.Real()
	before := time.Now()
	if c.Now().Before(before) {
		t.Fatal("Real().Now() went backwards")
	}
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("real timer did not fire")
	}
	tk := c.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
	<-c.After(0)
	if c.Since(before) < 0 {
		t.Fatal("Since negative")
	}
}
