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
//	c.OnStatus(func(st syncmanager.Status) { fmt.Println("synced:", st.Synced) })
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
// Each kind of thing an app may want to hear has one listener, with one
// type; register it in Config to hear from the first event on (Open
// registers it before it starts anything), or with the method of the same
// name later:
//
//	what                                   listener (Config field, method)
//	the status: online, syncing, the sync  OnStatus(syncmanager.Status)
//	  status (Synced), counts, progress,
//	  last error, a fatal stop
//	a committed change of the local store  OnChange(syncmanager.Change)
//	  (what to redraw)
//	an error the SDK handled by itself     OnError(*syncmanager.Error)
//	  (retried, logged, a failed write)
//	a one-shot callback after a sync       ScheduleSyncStatusChangeCallback
//	a sync that completed (blocking)       WaitForFirstSync, WaitSynced
//	the status now                         Status
//
// The sync status (true once a sync succeeded since the connection came
// up, false when it goes down) is Status.Synced, heard through OnStatus:
// one listener for the status keeps a UI that shows several of its fields
// from seeing them in two orders, and a listener that cares only for
// Synced compares it with the last value it saw. The seed's name stays
// for the post-sync callback, ScheduleSyncStatusChangeCallback, which
// runs once after the next sync rather than at each change.
//
// Listeners run on one dispatcher goroutine, in order, after the change
// they tell of committed; each registration by method returns its
// unsubscribe, and those in Config stay until Close. A listener may call
// the Client (Close included); one that panics is recovered and reported
// to OnError.
//
// # Lifecycle
//
// A Client is safe for concurrent use. After Close every method returns
// ErrClosed at once; Close itself may be called again and returns the
// first call's result.
package outpost
