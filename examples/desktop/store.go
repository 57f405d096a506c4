package main

import (
	"context"
	"time"
)

// TaskStore is what the app needs of the data: lists, their tasks and
// chat, the writes the server refused, the connection's status, and a notification
// when any of it changed. The UI and its model see nothing else, so the
// store behind it can change without them.
//
// Reads come from the local store only; writes are stored locally and
// return at once, online or offline, except CreateList, which needs the
// server. A TaskStore is safe for concurrent use.
type TaskStore interface {
	// Lists returns the user's lists, sorted by name.
	Lists(ctx context.Context) ([]List, error)
	// Tasks returns a list's tasks in the list's order.
	Tasks(ctx context.Context, list string) ([]Task, error)
	// Failed returns the writes the server refused for good.
	Failed(ctx context.Context) ([]Failure, error)
	// Chat returns the latest lines of a list's chat, oldest first.
	Chat(ctx context.Context, list string) ([]ChatLine, error)

	CreateList(ctx context.Context, name string) (id string, err error)
	AddTask(ctx context.Context, list, title string) error
	Rename(ctx context.Context, list, task, title string) error
	SetDone(ctx context.Context, list, task string, done bool) error
	Delete(ctx context.Context, list, task string) error
	// Say adds a line to a list's chat.
	Say(ctx context.Context, list, text string) error
	// Retry makes a refused write again, over the server's version of
	// its task; Dismiss forgets it, and the task shows the server's
	// version.
	Retry(ctx context.Context, failure string) error
	Dismiss(ctx context.Context, failure string) error

	// SetOnline connects (true) or disconnects (false) and stays so, until
	// the next call; it does not wait for the network.
	SetOnline(online bool)
	// Status returns the connection's and the sync's state now.
	Status() Status
	// Subscribe calls fn after anything Lists, Tasks, Failed or Status
	// return may have changed; bursts may coalesce. fn must not block.
	Subscribe(fn func()) (unsubscribe func())
}

// List is a shared list of tasks.
type List struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Mark says where a task (or its last change) stands with the server.
type Mark string

const (
	Synced  Mark = ""        // the server has it
	Pending Mark = "pending" // in the outbox, not yet on the server
	Failed  Mark = "failed"  // the server refused it; see Task.Why
)

// Task is one task of a list.
type Task struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Done  bool   `json:"done"`
	By    string `json:"by"` // who made it
	Mark  Mark   `json:"mark"`
	Why   string `json:"why"` // why the server refused it, with Mark Failed
}

// ChatLine is a line of a list's chat.
type ChatLine struct {
	ID   string `json:"id"`
	By   string `json:"by"`
	Text string `json:"text"`
	Mark Mark   `json:"mark"`
	Why  string `json:"why"` // why the server refused it, with Mark Failed
}

// Failure is a write the server refused for good.
type Failure struct {
	ID   string `json:"id"` // what Retry and Dismiss take
	List string `json:"list"`
	Task string `json:"task"` // the task's id; "" for a write on no task
	// Op names the write: "add", "rename", "tick", "untick", "delete",
	// "say" (a chat line), or the SDK's op type for any other.
	Op string `json:"op"`
	// What says the write in words, with the titles it concerns:
	// rename “dishes” to “wash up”.
	What string `json:"what"`
	// Why says why the server refused it, in words: who changed the task
	// since this device saw it and what it is now, or the server's reason.
	Why string `json:"why"`
}

// Status is the connection's and the sync's state.
type Status struct {
	Online bool `json:"online"`
	// UserOffline is set while the user keeps the app offline
	// (SetOnline(false)).
	UserOffline bool `json:"user_offline"`
	// Why says why the app is offline, in words: taken offline by the
	// user, the server's error, or still connecting. Empty online.
	Why string `json:"why"`
	// Fatal, when set, says why the app syncs no more (a store of another
	// server); local reads and writes go on.
	Fatal string `json:"fatal"`
	// Syncer is set while this app sends the store's writes and syncs
	// it; unset, another process open on the same store (a second
	// window, the CLI's watch) does, and this app's writes leave through
	// it. One of them takes over within about a second when it closes.
	Syncer bool `json:"syncer"`
	// Syncing is set while a sync or drain runs; FirstSync while the
	// first sync of this store has not completed.
	Syncing   bool `json:"syncing"`
	FirstSync bool `json:"first_sync"`
	// Pages and Events count what the running (or last) sync applied.
	Pages        int       `json:"pages"`
	Events       int       `json:"events"`
	Pending      int       `json:"pending"`
	Failed       int       `json:"failed"`
	LastSyncedAt time.Time `json:"last_synced_at"`
}
