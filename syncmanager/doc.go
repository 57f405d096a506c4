// Package syncmanager keeps a local offlinedb store in step with the
// server: the Go form of Stream's OfflineDBSyncManager, with its known
// weaknesses fixed.
//
// A Manager reacts to connection.changed events from the connection. When
// the connection comes up it drains the outbox (pending writes) in FIFO
// order, then asks the server for every event since the checkpoint (a server
// time), page by page, and applies each page together with the new
// checkpoint in one transaction. Sync-status listeners hear of each change
// of the status, change listeners (OnChange) of each committed change of
// the store, and one-shot callbacks scheduled by tag run after the first
// successful sync that started after they were scheduled.
//
// What it guarantees, beyond the seed design:
//
//   - The checkpoint is server time, never the device clock.
//   - Only fatal answers reset the local cache: a checkpoint past the
//     retention window, or the server saying the position is too old or the
//     history is lost. Timeouts, network errors, rate limits, server errors
//     and anything unknown keep the checkpoint and retry with backoff.
//   - A reset keeps the outbox, and the manager refills the store from the
//     server at once.
//   - The outbox drains in order; a temporary failure stops the drain (so an
//     edit never overtakes its send) and retries on a backoff timer, and a
//     permanent one moves the task to the failed list.
//   - One sync at a time; triggers during a sync coalesce into one more.
//   - Listeners and callbacks run on the manager's own dispatcher
//     goroutine, never on the connection's read loop or under a lock; one
//     that panics is recovered and the others still run.
//   - A change listener runs after the transaction that made the change
//     committed: it finds in the store what it is told about.
//   - Writes return once stored locally; RetryFailed and DismissFailed act
//     on the writes the server refused.
//
// # Lifecycle
//
// New, then Init (again to re-subscribe, e.g. after the app switched user),
// then Close, which stops the manager's goroutines and waits for them. A
// Manager is safe for concurrent use.
package syncmanager
