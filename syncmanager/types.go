package syncmanager

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// ChangeKind says where a change of the local store came from. A Change
// that coalesces several carries the union of their kinds.
type ChangeKind uint8

const (
	// ChangeLive: live events from the connection were applied.
	ChangeLive ChangeKind = 1 << iota
	// ChangeSync: a sync page or a channel's state was applied.
	ChangeSync
	// ChangeReset: the cache was reset (cleared to refill).
	ChangeReset
	// ChangeWrite: the app queued a write (its optimistic row).
	ChangeWrite
	// ChangeTask: the server answered or refused queued writes.
	ChangeTask
)

// Has reports whether k includes every kind of want.
func (k ChangeKind) Has(want ChangeKind) bool { return k&want == want }

// Change tells what a committed local transaction changed: the store
// already holds it when a change listener runs. Changes that come faster
// than the listeners take them coalesce into one, so a catch-up of 100k
// events makes a few calls, not 100k.
type Change struct {
	Kind ChangeKind
	// Channels are the channel ids concerned, sorted.
	Channels []string
	// Messages are the message ids concerned (their rows, reactions or
	// pending writes changed), sorted. When more than MaxChangeIDs
	// changed, Messages is nil and Many is set: reread the channels.
	Messages []string
	// Records are the records concerned (their rows or pending writes
	// changed), sorted by channel, collection and id: each names its
	// collection. Nil with Many set when more than MaxChangeIDs changed.
	Records []offlinedb.RecordKey
	// Many is set when the change is too big to list message by message
	// (or record by record).
	Many bool
	// Reset is set when the whole cache was cleared: reread everything.
	Reset bool
	// Events are the live events the change applied, in order, when the
	// change comes from the connection (at most MaxChangeIDs).
	Events []protocol.Event
}

// MaxChangeIDs caps the message ids and events one Change lists.
const MaxChangeIDs = 1000

// Status is a snapshot of the manager's state, for an app to show.
type Status struct {
	// Online is whether the connection is up, as last reported.
	Online bool
	// Synced is the sync status: true once a sync has succeeded since the
	// connection came up, false when it goes down. A status listener
	// (outpost.Client.OnStatus) hears each change of it.
	Synced bool
	// Syncing is set while a drain or sync runs.
	Syncing bool
	// Syncer is set when this manager is the one that drains the outbox
	// and syncs: it holds Options.SyncLock, or none is set. Without it the
	// manager's writes wait in the outbox for the process that syncs.
	Syncer bool
	// LastSyncedAt is the server time of the last applied sync.
	LastSyncedAt time.Time
	// Pending and Failed count the outbox and the failed list.
	Pending, Failed int
	// LastError is the last error of the connection, a drain or a sync:
	// set while the server cannot be reached, nil again once the
	// connection is up or a drain or sync succeeded.
	LastError error
	// Fatal is set when the manager has stopped for good: the server is
	// not the one the store is bound to (a *client.ServerMismatchError).
	// It drains and syncs no more, and SyncNow returns Fatal; the store
	// and its outbox are kept as they are, and local writes still queue.
	Fatal error
	// Progress describes the sync in flight (or the last one).
	Progress Progress
}

// Progress counts what a sync has applied so far. The server does not say
// how much is left, so an app shows a count (or pages), not a fraction.
type Progress struct {
	Pages  int
	Events int
}

// Callback is a one-shot post-sync callback. An error it returns is logged
// and reported to the error listeners (outpost.Client.OnError).
type Callback func(ctx context.Context) error

// Options configure a Manager. The zero value is ready to use. The
// server's retention window is the server's to say (protocol.Hello): a
// checkpoint older than it is reset instead of synced.
type Options struct {
	// PageSize is the number of events asked for in one sync page. Zero
	// means the server's default for a sync's first page and, after a
	// full page (a long gap), the largest page the server takes (its
	// hello's sync_page_max), at most 2,000.
	PageSize int

	// MaxChannelsPerSync caps the channel positions in one sync request;
	// more channels are synced in several requests. Zero means 2000.
	MaxChannelsPerSync int

	// RetryMinDelay and RetryMaxDelay bound the jittered exponential
	// backoff between retries of a failed drain or sync. Zero means 500ms
	// and 30s.
	RetryMinDelay time.Duration
	RetryMaxDelay time.Duration

	// DrainBatchSize caps the tasks sent in one batch request. Zero
	// means protocol.MaxBatchOps; 1 sends each task in a batch of its
	// own.
	DrainBatchSize int

	// RefillMessageLimit is how many of each channel's latest messages a
	// channel's state (fetched when the channel is new to the store, or
	// was reset) holds. Zero means 50.
	RefillMessageLimit int

	// History says how much of each channel's message history the
	// manager keeps on the device by itself. The zero value is
	// HistoryFull.
	History HistoryPolicy

	// SyncPolicy says when the manager syncs by itself. The zero value,
	// SyncOnConnect, syncs each time the connection comes up.
	SyncPolicy SyncPolicy

	// SyncLock, if set, is the path of a lock file (beside the store)
	// that lets several processes share one store: only the manager that
	// holds it drains the outbox and syncs. The others still write (their
	// writes wait in the outbox and are sent by the holder, in order),
	// apply live events and hear every change (see OnChange); each tries
	// to take the lock every half second, so when the holder closes or
	// dies another takes over within about that long. The lock is the
	// operating system's (see internal/filelock): the kernel releases it
	// with its process. Empty means this manager always syncs, as the
	// only one on its store.
	SyncLock string

	// Logger gets the manager's logs. Nil means logs are dropped.
	Logger *slog.Logger
}

// HistoryPolicy says how much of each channel's message history the
// manager keeps on the device by itself. Whatever it keeps, LoadOlder
// fetches older messages on demand, and nothing cuts back what is held.
type HistoryPolicy struct {
	recent int // 0: the whole history
}

// HistoryFull keeps each channel's whole message history: a channel new
// to the store (first sync, join, reset) gets its state (the newest
// messages, readable at once), then its older history page by page,
// newest first, with flat memory. The default: a desktop app's disk holds
// years of chat for a few hundred MB (a message is about half a KB), and
// offline every message the user may read is then on the device.
var HistoryFull = HistoryPolicy{}

// HistoryRecent keeps at least the latest n messages of each channel
// (n below 1 means 1); older ones come with LoadOlder. For an app whose
// disk is tight, or whose channels are huge and mostly unread.
func HistoryRecent(n int) HistoryPolicy { return HistoryPolicy{recent: max(n, 1)} }

func (p HistoryPolicy) String() string {
	if p.recent == 0 {
		return "full"
	}
	return "recent(" + strconv.Itoa(p.recent) + ")"
}

// Keep is the number of messages the policy keeps of each channel: -1
// for all.
func (p HistoryPolicy) Keep() int {
	if p.recent == 0 {
		return -1
	}
	return p.recent
}

// SyncPolicy says when a Manager syncs (pulls the server's changes) by
// itself. Whatever the policy, the outbox drains whenever the connection
// is up, SyncNow and WaitSynced sync, and a failed sync is retried.
type SyncPolicy int

const (
	// SyncOnConnect syncs each time the connection comes up, the first
	// time included, and whenever live events leave a gap. The default.
	SyncOnConnect SyncPolicy = iota
	// SyncOnReconnect skips the sync of the first connection, for an app
	// that loads its first state another way (over REST, say): the
	// manager syncs by itself only once the connection has gone down and
	// come up again. Until then live events the store cannot apply in
	// order are dropped instead of asking for a sync.
	SyncOnReconnect
	// SyncManually never syncs by itself: only SyncNow and WaitSynced do.
	SyncManually
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncOnConnect:
		return "on-connect"
	case SyncOnReconnect:
		return "on-reconnect"
	case SyncManually:
		return "manually"
	}
	return "SyncPolicy(" + strconv.Itoa(int(p)) + ")"
}

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
	// ErrorCallback: a listener (OnStatus, OnChange)
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
// to the failed list) and reports to the error listeners
// (outpost.Config.OnError, outpost.Client.OnError), so that an app can
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
	// (ErrorCallback): "OnStatus", "OnChange", the
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
