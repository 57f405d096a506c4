// Package engine is the sync manager: it keeps the local store (package
// store) in step with the Outpost server over a client connection: it
// sends the outbox, pulls what changed, applies live events, and tells the
// app.
//
// It is internal: an app drives it through outpost.Client, and package
// syncmanager defines the types the app sees (Options, Status, Change,
// Error; this package aliases them). Its Store interface is the store's
// engine side, which only *store.DB implements; the package's tests wrap
// one to inject faults.
//
// A Manager reacts to the connection's client.EventConnectionChanged
// events. When the connection comes up it drains the outbox (pending
// writes) in FIFO order, then, as Options.SyncPolicy says, syncs: it asks
// the server for what follows the store's positions (the user's membership
// feed and each channel's log, see store.SyncPositions), page by page,
// and applies each page together with the positions it reaches in one
// transaction. Live events are applied as they come when they are the next
// of their channel's log; a gap asks for a sync.
//
// The app hears of it in several ways, each with one meaning:
//
//   - Status returns a snapshot (online, syncing, the sync status Synced,
//     counts, last error, progress); OnStatus hears every change of it.
//   - OnChange hears each committed change of the store.
//   - ScheduleSyncStatusChangeCallback runs a one-shot callback, by tag,
//     after the first successful sync that started after it was scheduled.
//   - WaitForFirstSync and WaitSynced block until a sync (the first one, or
//     one after the call with the outbox empty) completed.
//   - OnError hears every error the manager handles by itself, as a
//     typed *Error (see ErrorKind).
//
// Listeners given to New in Listeners hear from the first event on; the
// On* methods add more later.
//
// What it guarantees:
//
//   - Positions come from the server's logs, never from the device clock;
//     the last sync's server time only decides the retention window.
//   - Only fatal answers reset the local cache: a last sync past the
//     server's retention window (from its hello, kept in the store), or the
//     server saying the position is too old or the history is lost. Timeouts, network errors, rate limits, server errors
//     and anything unknown keep the positions and retry with backoff.
//   - A reset keeps the outbox, and the manager refills the store from the
//     server at once.
//   - Each channel's held history is one contiguous range ending at its
//     position; after a sync the manager extends it as Options.History
//     says (the whole history by default), and LoadOlder on demand. No
//     state answer moves a position back or drops held rows.
//   - The outbox drains in order; a temporary failure stops the drain (so an
//     edit never overtakes its send) and retries on a backoff timer, and a
//     permanent one moves the task to the failed list.
//   - One sync at a time; triggers during a sync coalesce into one more.
//   - Listeners and callbacks run on the manager's own dispatcher
//     goroutine, never on the connection's read loop or under a lock; one
//     that panics is recovered, reported, and the others still run.
//   - A change listener runs after the transaction that made the change
//     committed, in this process or another on the same store: it finds
//     in the store what it is told about.
//   - Writes return once stored locally, with the id of their outbox task;
//     RetryFailed and DismissFailed act on the writes the server refused.
//   - The store is bound to its server's id (see store.DB.MeetServer),
//     which the connection sends with every request. Another server is a
//     terminal state: Status.Fatal and one ErrorFatal report say so, and
//     the manager drains and syncs no more, with the store and its outbox
//     untouched; local writes still queue.
//
// # Several processes on one store
//
// With Options.SyncLock set (the outpost facade sets it beside the
// store), several processes may share one store: the manager holding the
// lock file drains the outbox and syncs, the others only write to the
// outbox (Status.Syncer is false, SyncNow and Flush return ErrNotSyncer)
// and try the lock every half second, so one of them takes over within
// about that long when the holder closes or dies. Every manager reads the
// store's change log (see store.DB.ChangesSince) every 50ms, so its
// change listeners hear the other processes' changes too, and the syncing
// one sends the writes the others queue.
//
// # Lifecycle
//
// New starts a Manager (it does not wait for the network); Close stops its
// goroutines and waits for them, within its ctx.
// Flush drains the outbox on demand, SyncNow drains and syncs. A Manager is
// safe for concurrent use.
package engine
