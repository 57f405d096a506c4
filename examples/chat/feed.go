package main

import (
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/syncmanager"
)

// changeMsg tells the model that the SDK's state changed: the latest
// status snapshot (its LastError says why the connection is down). Many changes coalesce
// into one changeMsg, so a burst of events costs one reload.
type changeMsg struct {
	status syncmanager.Status
}

// feedClosedMsg is what the feed's wait command returns once the feed is
// closed; the model stops waiting on it.
type feedClosedMsg struct{}

// feed turns the SDK's callbacks into tea messages. The callbacks only
// record what changed and poke a channel of capacity one, so they never
// block the SDK's dispatcher; a tea.Cmd reads the channel. It is safe for
// concurrent use.
type feed struct {
	notify chan struct{} // capacity 1: a pending "something changed"
	done   chan struct{} // closed by Close
	unsubs []func()
	once   sync.Once

	mu     sync.Mutex // guards the fields below
	status syncmanager.Status
}

// newFeed subscribes to c's status and store changes.
func newFeed(c *outpost.Client) *feed {
	f := &feed{
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		status: c.Status(),
	}
	f.unsubs = []func(){
		c.OnStatus(func(st syncmanager.Status) {
			f.mu.Lock()
			f.status = st
			f.mu.Unlock()
			f.poke()
		}),
		// A change of the local store (a live event, a sync page, a
		// write or its answer) is told after it committed, so the
		// reload that follows finds it.
		c.OnChange(func(syncmanager.Change) { f.poke() }),
	}
	f.poke() // a first load
	return f
}

func (f *feed) poke() {
	select {
	case f.notify <- struct{}{}:
	default: // a change is already pending; it covers this one
	}
}

// wait returns a command that blocks until something changed (or the feed
// is closed) and reports it. The model runs it again after each changeMsg.
func (f *feed) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case <-f.notify:
		case <-f.done:
			return feedClosedMsg{}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return changeMsg{status: f.status}
	}
}

// Close unsubscribes from the SDK and ends a wait in progress. It is
// idempotent.
func (f *feed) Close() {
	f.once.Do(func() {
		for _, u := range f.unsubs {
			u()
		}
		close(f.done)
	})
}
