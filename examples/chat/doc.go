// Command chat is a terminal chat app on the Outpost SDK that keeps
// working offline.
//
// Try it with one command; it starts an in-process sync server, a second
// user and a bot, and logs you in as alice:
//
//	cd examples/chat && go run . --demo
//
// Or point it at a running outpostd:
//
//	go run . --server http://127.0.0.1:8080 --user alice --token "$TOKEN" --db alice.db
//
// Each flag has an environment variable: OUTPOST_SERVER, OUTPOST_USER,
// OUTPOST_TOKEN and OUTPOST_DB. Without --db the local store is
// outpost-chat-USER.db in the working directory. The demo keeps
// everything in a temp directory removed on quit; it ignores OUTPOST_DB.
//
// Keys: Tab and Shift-Tab switch channels, Enter sends, Ctrl-O takes the
// app offline and back (to try the outbox without pulling a cable), and
// Ctrl-C or Esc quits, closing the SDK client cleanly.
//
// Everything on screen is read from the local SQLite store. A message you
// send is stored there at once with the mark "⏳ pending" and leaves for
// the server when the connection is up; a message the server refuses for
// good is marked "✗ failed". The status bar shows online or offline, sync
// progress (events applied), the pending and failed counts and the last
// error.
//
// The app lives in its own module so that the SDK's users do not inherit
// its terminal UI dependencies (Bubble Tea, Bubbles, Lip Gloss).
package main
