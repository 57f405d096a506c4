package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/outpostsync/outpost/protocol"
	"runtime/debug"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/store"
)

// report hands e to the OnError listeners on the dispatcher goroutine.
func (m *Manager) report(e *Error) {
	m.disp.Push(func() { m.tellError(e) })
}

// tellError calls the OnError listeners with e, on the dispatcher
// goroutine. One that panics is logged, not reported again.
func (m *Manager) tellError(e *Error) {
	m.mu.Lock()
	ls := listenersOf(m.errListeners)
	m.mu.Unlock()
	for _, l := range ls {
		func() {
			defer func() {
				if r := recover(); r != nil {
					m.log.Error("syncmanager: OnError panicked", "panic", fmt.Sprint(r))
				}
			}()
			l(e)
		}()
	}
}

// call runs a listener or callback named what, on the dispatcher goroutine:
// a panic is recovered, logged and reported, so that the others still run.
func (m *Manager) call(what string, f func() error) {
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		err = f()
	}()
	if err == nil {
		return
	}
	m.log.Warn("syncmanager: callback failed", "callback", what, "error", err)
	// Already on the dispatcher: tell the OnError listeners now, in order.
	m.tellError(&Error{Kind: ErrorCallback, Err: err, Callback: what})
}

// onConnError hears the connection's errors, on its dispatcher goroutine:
// the status keeps a connection error while the server cannot be reached,
// and the OnError listeners hear each.
func (m *Manager) onConnError(ev client.ErrorEvent) {
	if ev.Err == nil {
		return
	}
	var de *protocol.DroppedEvent
	if errors.As(ev.Err, &de) {
		m.report(&Error{Kind: ErrorEventDropped, Err: ev.Err, EventID: de.EventID})
		return
	}
	var pe *client.HandlerPanicError
	if errors.As(ev.Err, &pe) {
		m.report(&Error{Kind: ErrorCallback, Err: ev.Err, Callback: "client handler", EventType: pe.EventType})
		return
	}
	if isServerMismatch(ev.Err) {
		m.stop(ev.Err)
		return
	}
	m.updateStatus(func(s *Status) { s.LastError = ev.Err })
	m.report(&Error{Kind: ErrorConnection, Err: ev.Err, Permanent: ev.Permanent})
}

// reportSkipped logs and reports the events a store left out.
func (m *Manager) reportSkipped(skipped []*store.EventError) {
	for _, s := range skipped {
		m.log.Warn("syncmanager: an event could not be applied", "event_id", s.EventID, "error", s.Err)
		m.report(&Error{Kind: ErrorEventDropped, Err: s, EventID: s.EventID, EventType: s.Type})
	}
}

// errorSource is a Conn that reports its errors; *client.Client is one.
type errorSource interface {
	OnError(h client.ErrorHandler) (unsubscribe func())
}

// reportingStore is the manager's view of its Store: it reports the
// writes moved to the failed list once the store holds them, and notes the
// task a drain stopped at.
type reportingStore struct {
	Store
	m *Manager
}

func (s reportingStore) MoveToFailed(ctx context.Context, taskID string, cause error) error {
	err := s.Store.MoveToFailed(ctx, taskID, cause)
	if err == nil {
		s.m.report(&Error{Kind: ErrorWriteFailed, Err: cause, TaskID: taskID})
	}
	return err
}

func (s reportingStore) CompleteTasks(ctx context.Context, outcomes []store.TaskOutcome) error {
	err := s.Store.CompleteTasks(ctx, outcomes)
	if err == nil {
		for _, o := range outcomes {
			if o.Failed != nil {
				s.m.report(&Error{Kind: ErrorWriteFailed, Err: o.Failed, TaskID: o.TaskID})
			}
		}
	}
	return err
}

// UpdatePendingTask records a temporary failure of the task a drain
// stopped at.
func (s reportingStore) UpdatePendingTask(ctx context.Context, t store.PendingTask) error {
	s.m.mu.Lock()
	s.m.stoppedAt = t.ID
	s.m.mu.Unlock()
	return s.Store.UpdatePendingTask(ctx, t)
}

// takeStoppedAt returns and clears the task the last drain stopped at.
func (m *Manager) takeStoppedAt() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.stoppedAt
	m.stoppedAt = ""
	return id
}
