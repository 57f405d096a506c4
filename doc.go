// Package outpost is the one-call way to embed Outpost: Open opens the local
// store, connects to the server and starts the sync manager for one user;
// Close makes a last bounded attempt to send the outbox and stops all three.
//
//	c, err := outpost.Open(ctx, outpost.Config{
//		ServerURL: "http://127.0.0.1:8080",
//		UserID:    "alice",
//		Token:     token,
//		DBPath:    "alice.db",
//	})
//	if err != nil {
//		return err
//	}
//	defer c.Close(ctx)
//	c.OnSyncStatusChange(func(synced bool) { fmt.Println("synced:", synced) })
//	w, err := c.SendMessage(ctx, "messaging:general", outpost.NewMessage{Text: "hello"}) // works offline too
//	err = c.WaitSynced(ctx) // the message is on the server, the store caught up
//
// Reads (Messages, Channels, Message, Members, ...) come from the local
// store, so they work with no network. Writes go through the outbox:
// stored at once with status "pending", sent when the connection allows,
// in order; each write method (SendMessage, UpdateMessage, DeleteMessage,
// SendReaction, DeleteReaction, MarkRead) returns the Write it queued.
// These names are the names of the same operations in package client and
// in the protocol's batch ops. Connect and Disconnect take the client on
// and off the network; Config.Sync.SyncPolicy says when it syncs by
// itself.
//
// # Packages
//
// The Client is the API an app uses. Packages offlinedb and syncmanager
// hold the types it speaks in (rows and queries; options, status, changes
// and errors). The store and the sync engine themselves are internal: an
// app that could claim outbox tasks or move sync positions while the
// engine runs could break its invariants, so it reaches them only through
// the Client. The app's own tables live in the same SQLite file
// (Config.Store.Migrations, Client.SQLDB). Package client stays public as
// a Go client of the server's API, for tools and bots that talk to the
// server without a local store; a Client does not hand out its own
// connection.
//
// # Listening
//
// Each thing an app may want to hear has one way:
//
//	what                                   how
//	the status snapshot, each change       Status, OnStatus
//	  (online, syncing, counts, progress,
//	  last error)
//	the sync status (Status().Synced)      OnSyncStatusChange, or
//	                                       Config.OnSyncStatusChange to hear
//	                                       the first change during Open
//	a committed change of the local store  OnChange (what to redraw)
//	a one-shot callback after a sync       ScheduleSyncStatusChangeCallback
//	an error the SDK handled by itself     Config.Sync.OnError (*syncmanager.Error)
//	a sync that completed                  WaitForFirstSync, WaitSynced
//
// Listeners run on one dispatcher goroutine, in order, after the change
// they tell of committed; each registration returns its unsubscribe.
//
// # Lifecycle
//
// A Client is safe for concurrent use. After Close every method returns
// ErrClosed at once; Close itself may be called again and returns the
// first call's result.
package outpost
