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
//	id, err := c.SendMessage(ctx, "messaging:general", "hello") // works offline too
//	err = c.WaitSynced(ctx) // the message is on the server, the store caught up
//
// Reads come from the local store (c.DB), so they work with no network.
// Writes go through the outbox: stored at once with status "pending", sent
// when the connection allows, in order; each write method returns the id
// of its outbox task. Connect and Disconnect take the client on and off
// the network; Config.Sync.SyncPolicy says when it syncs by itself, and
// Config.Sync.OnError hears the errors it handles by itself.
//
// The packages it wires, offlinedb (the store), client (the connection)
// and syncmanager, can be used on their own for other set-ups; the Client's
// DB, Conn and Sync fields reach them.
package outpost
