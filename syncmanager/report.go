package syncmanager

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// ErrorKind says what an *Error reports.
type ErrorKind int

const (
	// ErrorConnection: a connection attempt failed or a connection ended
	// (a *client.TransportError, *client.FrameError, *protocol.APIError
	// ...). The client reconnects by itself unless Permanent is set;
	// Status().LastError holds the error until the next success.
	ErrorConnection ErrorKind = iota + 1
	// ErrorEventDropped: an event from the server was dropped, because it
	// was malformed or could not be applied to the store. EventID and
	// EventType name it when known.
	ErrorEventDropped
	// ErrorCallback: a listener (OnSyncStatusChange, OnStatus, OnChange)
	// panicked, or a post-sync callback returned an error or panicked, or
	// a handler registered on the connection panicked. Callback names it;
	// a panic is a *PanicError (a *client.HandlerPanicError for the
	// connection's handlers, with EventType set).
	ErrorCallback
	// ErrorDrainRetry: sending the outbox stopped at a temporary error;
	// the drain is retried after RetryIn. TaskID names the task it
	// stopped at, when one did.
	ErrorDrainRetry
	// ErrorSyncRetry: a sync failed; it is retried after RetryIn.
	ErrorSyncRetry
	// ErrorWriteFailed: the server refused a write for good; it moved to
	// the failed list (see RetryFailed and DismissFailed). TaskID names
	// it.
	ErrorWriteFailed
	// ErrorFatal: the manager stopped for good (see Status.Fatal): the
	// server is not the one the store is bound to, a
	// *client.ServerMismatchError. Reported once.
	ErrorFatal
)

func (k ErrorKind) String() string {
	switch k {
	case ErrorConnection:
		return "connection"
	case ErrorEventDropped:
		return "event dropped"
	case ErrorCallback:
		return "callback"
	case ErrorDrainRetry:
		return "drain retry"
	case ErrorSyncRetry:
		return "sync retry"
	case ErrorWriteFailed:
		return "write failed"
	case ErrorFatal:
		return "fatal"
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// Error is an error the SDK handled by itself (logged, retried, or moved
// to the failed list) and reports to Options.OnError, so that an app can
// show or report it. Kind says which; the other fields give its context.
type Error struct {
	Kind ErrorKind
	// Err is the error itself.
	Err error
	// TaskID is the outbox task concerned (ErrorWriteFailed,
	// ErrorDrainRetry).
	TaskID string
	// EventID and EventType name the event dropped (ErrorEventDropped),
	// or the event a client handler panicked on (ErrorCallback).
	EventID   string
	EventType protocol.EventType
	// Callback names the listener or callback that failed
	// (ErrorCallback): "OnSyncStatusChange", "OnStatus", "OnChange", the
	// tag of a post-sync callback, or "client handler".
	Callback string
	// RetryIn is the delay before the retry (ErrorDrainRetry,
	// ErrorSyncRetry).
	RetryIn time.Duration
	// Permanent is set on a connection error after which the client
	// stopped reconnecting (ErrorConnection).
	Permanent bool
}

func (e *Error) Error() string {
	s := "syncmanager: " + e.Kind.String()
	switch {
	case e.TaskID != "":
		s += " (task " + e.TaskID + ")"
	case e.EventID != "" || e.EventType != "":
		s += " (event " + e.EventID + " " + string(e.EventType) + ")"
	case e.Callback != "":
		s += " (" + e.Callback + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// PanicError is the Err of an ErrorCallback report for a listener or
// callback that panicked.
type PanicError struct {
	Value any    // what the callback panicked with
	Stack []byte // the stack of the panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// report hands e to Options.OnError on the dispatcher goroutine. An OnError
// that panics is logged, not reported again.
func (m *Manager) report(e *Error) {
	if m.opts.OnError == nil {
		return
	}
	m.disp.Push(func() { m.opts.OnError(e) })
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
	if m.opts.OnError != nil {
		// Already on the dispatcher: call OnError now, in order.
		func() {
			defer func() {
				if r := recover(); r != nil {
					m.log.Error("syncmanager: OnError panicked", "panic", fmt.Sprint(r))
				}
			}()
			m.opts.OnError(&Error{Kind: ErrorCallback, Err: err, Callback: what})
		}()
	}
}

// onConnError hears the connection's errors, on its dispatcher goroutine:
// the status keeps a connection error while the server cannot be reached,
// and OnError hears each.
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
func (m *Manager) reportSkipped(skipped []*offlinedb.EventError) {
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

func (s reportingStore) CompleteTasks(ctx context.Context, outcomes []offlinedb.TaskOutcome) error {
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
func (s reportingStore) UpdatePendingTask(ctx context.Context, t offlinedb.PendingTask) error {
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
