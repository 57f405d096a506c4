// Command desktop is a shared task list on the Outpost SDK: a windowed
// app, written with Gio, that keeps working offline.
//
//	go run .    # a demo, with a sync server in the process
//	go run . --server http://127.0.0.1:8080 --user alice --token "$TOKEN" --share bob
//
// A list is a channel of type "list", shared by its members; a task is a
// record of its "tasks" collection (outpost.Collection), with a title and
// a done flag; the list's chat is the channel's messages. A task added,
// ticked, renamed or deleted is stored locally at once and marked pending
// until the server has it. The window shows online or offline and why,
// pending and refused marks with Retry and Dismiss, the first sync's
// progress, and redraws on the SDK's change notifications, including
// those of other processes on the same store (the outpost CLI). It opens
// at once on the local store, which is outpost.DefaultDBPath's unless
// --db says otherwise.
//
// The app is three parts: a TaskStore (store.go) over the SDK
// (recordstore.go), a Model holding the app's state and actions apart
// from drawing (model.go), and the Gio UI over the model (ui.go). See
// README.md for the flags, how to build it on each OS, and its tests.
//
// The app lives in its own module so that the SDK's users do not inherit
// Gio.
package main
