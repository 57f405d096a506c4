// Package outpost is the one-call way to embed Outpost: Open opens the local
// store, connects to the server and starts the sync manager for one user;
// Close stops all three.
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
//	defer c.Close()
//	c.Sync.OnSyncStatusChange(func(synced bool) { fmt.Println("synced:", synced) })
//	id, err := c.SendMessage(ctx, "messaging:general", "hello") // works offline too
//
// Reads come from the local store (c.DB), so they work with no network.
// Writes go through the outbox: stored at once with status "pending", sent
// when the connection allows, in order. The packages it wires, offlinedb,
// client and syncmanager, can be used on their own for other set-ups.
package outpost
