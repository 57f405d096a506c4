// Command outpost is a command-line client of an Outpost sync server, for
// people and scripts. It mints dev tokens, creates channels and manages
// their members (online only), sends and edits messages (offline too:
// writes are queued in the local store and sent on the next sync), syncs,
// and reads the local store without the network.
//
//	outpost token --user alice --secret "$SECRET"
//	export OUTPOST_SERVER=http://127.0.0.1:8080 OUTPOST_USER=alice OUTPOST_TOKEN=... OUTPOST_DB=alice.db
//	outpost channel create bob --id general    # prints messaging:general; needs the server
//	outpost send messaging:general "hello"     # prints the message id; works offline
//	outpost sync                               # drain the outbox, catch up, print what changed
//	outpost messages messaging:general --json  # read the local store; no network needed
//
// Run "outpost help" for every command, the environment variables and the
// exit codes scripts can rely on. The CLI uses only the SDK's public API:
// the root outpost package and the offlinedb, syncmanager, client, protocol
// and token packages.
package main
