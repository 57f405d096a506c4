// Package offlinedb holds the types of Outpost's local store that an app
// reads: the rows (Message, Reaction, Channel), the queries that page them
// (MessagesQuery, ChannelsQuery), the outbox's tasks (PendingTask,
// FailedTask), the store's Options and its errors.
//
// The store itself (a SQLite file that holds the user's channels, messages,
// reactions, members, reads and users, the outbox of writes not yet sent and
// the sync positions) is opened by outpost.Open and read through the
// outpost.Client; the app's own tables live in the same file (see
// Options.Migrations and outpost.Client.SQLDB). The sync engine's side of
// the store (claiming and completing outbox tasks, applying pages and live
// events, the sync positions) is internal: an app that wrote to it while
// the engine runs could break the engine's invariants.
//
// # Row states
//
// A row the app wrote shows at once with StatusPending; the server's answer
// turns it into StatusSent, or StatusFailed with the reason in Error (the
// write is then in the failed list, see FailedTask).
package offlinedb
