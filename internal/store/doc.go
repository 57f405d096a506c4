// Package store is Outpost's local store: a SQLite file that holds the
// user's channels, messages, reactions, members, reads and users, the
// outbox of writes not yet sent, and the sync positions: per channel the
// (epoch, seq, event id) of the last event applied, and the user's place
// in their membership feed.
//
// It is internal: an app reaches the store only through outpost.Client,
// whose reads call it, and package offlinedb defines the types the app
// sees (this package aliases them). The engine's calls (claiming and
// completing outbox tasks, applying pages and live events, moving the
// sync positions) stay here, out of an app's reach, because a call made
// while the sync manager runs could break its invariants.
//
// # Lifecycle
//
// Open creates or opens the file (mode 0600), sets WAL, the busy timeout and
// foreign keys and reads each back, and applies the schema migrations.
// Close closes it. A *DB is safe for concurrent use.
//
// # Syncing
//
// The sync engine speaks to the store in intents: SyncPositions (where to
// sync from), ApplySyncPage (a page of the feed and of channel events with
// the positions it reaches, in one transaction), ApplyChannelStates (the
// one way a channel's state comes in: it never moves a position back nor
// drops held rows, but for a channel new or reset), ApplyHistoryPage (a
// page of older history joined to the held range, HeldHistory),
// ApplyLiveEvents (only the next event of each channel's log applies; the
// rest asks for a sync), CompleteTasks and ResetDB. An event alone never
// moves a position.
//
// # Applying events
//
// ApplyEvent applies one server event. EventQueries returns the SQL that
// applies it instead, to run with other queries in one transaction with
// ExecQueries.
//
// Applying is idempotent and order-safe. Every row carries the version of the
// event that last changed it and an upsert only wins with a higher version;
// deletes leave a tombstone, so a late message.new cannot bring a deleted
// message back; an upsert never blanks a column that a partial payload left
// out. Applying the same page twice changes nothing.
//
// # The outbox
//
// AddPendingTask stores a write the app made while offline, in FIFO order,
// and writes its optimistic local effect (a message row with status
// "pending", say) in the same transaction. Server data is rebased under the
// pending writes (see overlay.go): it is applied to the server's version of
// a row and the pending writes replayed over it, so a row never loses a
// newer pending change. A task the server refuses for good moves to the
// failed list with MoveToFailed and its row rolls back to the server's
// version (a refused send stays, "failed"); RetryFailed queues it again,
// DismissFailed forgets it. ResetDB clears cached server data and the
// positions but keeps the outbox, the failed list, the rows they own and
// the store's identity.
//
// # Records
//
// The records table (0009_records.sql, its shape documented there and
// kept stable) holds the app's records, one row per record, a tombstone
// row for a deleted one. Record events apply with the version guard like
// every event; a channel's state a sync fetched (ApplySyncStates) is
// followed by its records, page by page (ApplyRecordsPage), a fetch that
// goes on after a restart (RecordFetches) and whose last page turns the
// records the server deleted meanwhile into tombstones
// (0011_record_fetches.sql). Record writes (NewRecordTask) overlay their record
// as message writes overlay messages (record_overlays, record_base); a
// refusal that carries the server's record stores it, so the rollback
// shows the server's truth, and keeps the server's error body on the
// failed list. ListRecords filters and sorts by top-level fields; the
// fields EnsureIndexes declares get expression indexes over the JSON. No
// Go callback runs in these transactions; an app's triggers on records
// do.
//
// # Identity
//
// Bind binds a store to a user and a server; a store of another identity is
// refused with an *IdentityError, or wiped first when asked. Bind is the one
// identity mechanism: a store bound by an earlier run is bound again when it
// opens, and the methods that touch the user's own data (the outbox, the
// failed list, the sync positions, the unread count) act for the bound user
// and take no user id; on a store not bound yet they return ErrNotBound.
package store
