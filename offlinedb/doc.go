// Package offlinedb is Outpost's local store: a SQLite file that holds the
// user's channels, messages, reactions, members, reads and users, the outbox
// of writes not yet sent, and the sync positions: per channel the (epoch,
// seq, event id) of the last event applied, and the user's place in their
// membership feed.
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
// the positions it reaches, in one transaction), ApplyChannelStates (a
// channel's state replaces its cached rows, at the position it carries),
// ApplyLiveEvents (only the next event of each channel's log applies; the
// rest asks for a sync), CompleteTasks and ResetDB. An event alone never
// moves a position.
//
// # Applying events
//
// ApplyEvent applies one server event. EventQueries returns the SQL that
// applies it instead, for an app that extends the schema (Options.Migrations,
// SQLDB) to run with queries of its own in one transaction with
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
// version (a refused send stays, "failed"); RetryFailedTask queues it again,
// DeleteFailedTask forgets it. ResetDB clears cached server data and the
// positions but keeps the outbox, the failed list, the rows they own and
// the store's identity.
//
// # Identity
//
// A store belongs to one user on one server. Bind binds it to a user; a
// store of another user is refused with an *IdentityError, or wiped first
// when asked. The server is known by the id it says in its hello
// (protocol.Hello), not by its URL: MeetServer records each hello and
// binds a store that holds nothing of any server to the first server it
// meets, and refuses another server's with an *IdentityError (Field
// "server"); a store that synced before stores were bound by id is bound
// by AdoptServer after a sync that needed no reset. ServerBinding returns
// the binding and the last hello, for an offline start. ResetDB keeps the
// binding; only Wipe removes it.
package offlinedb
