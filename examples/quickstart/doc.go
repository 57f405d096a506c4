// Command quickstart tells Outpost's offline story in one run: an
// in-process sync server on embedded SQLite, and two users, Alice and Bob,
// each with a local SQLite store. Bob goes offline, keeps writing, comes
// back, and both stores end up equal to the server's.
//
//	go run ./examples/quickstart
//
// It exits 0 when both local stores match the server, 1 otherwise.
package main
