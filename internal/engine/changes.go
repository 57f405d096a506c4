package engine

import (
	"github.com/outpostsync/outpost/internal/changelog"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// changeSet accumulates changes not yet delivered: what they changed, and
// the live events among them. Its Kind holds ChangeKind bits, which are
// the change log's kinds (see changes_internal_test.go).
type changeSet struct {
	changelog.Note
	events []protocol.Event
}

// event records what an event touches; live says it is a live event, to
// be listed in Change.Events.
func (s *changeSet) event(ev *protocol.Event, live bool) {
	s.Event(ev)
	if live && len(s.events) < MaxChangeIDs {
		s.events = append(s.events, *ev)
	}
}

func (s *changeSet) change() Change {
	return Change{Kind: ChangeKind(s.Kind), Many: s.Many, Reset: s.Reset, Events: s.events,
		Channels: s.ChannelIDs(), Messages: s.MessageIDs(), Records: s.RecordKeys()}
}

// OnChange registers a listener for changes of the local store: live
// events, sync pages, resets, the app's own writes and the server's
// answers to them. It runs on the dispatcher goroutine, after the
// transaction that made the change committed, so the listener finds in the
// store what it is told about. The returned func unregisters it.
func (m *Manager) OnChange(listener func(Change)) (unsubscribe func()) {
	return register(m, m.changeListeners, listener)
}

// noteChange records a committed change and, unless a delivery is queued
// already, queues one: the listeners then get every change made until it
// runs, in one call.
func (m *Manager) noteChange(kind ChangeKind, fill func(s *changeSet)) {
	m.mu.Lock()
	if len(m.changeListeners) == 0 {
		m.mu.Unlock()
		return
	}
	queued := m.changes != nil
	if !queued {
		m.changes = &changeSet{}
	}
	m.changes.Kind |= uint8(kind)
	fill(m.changes)
	m.mu.Unlock()
	if queued {
		return
	}
	m.disp.Push(func() {
		m.mu.Lock()
		s := m.changes
		m.changes = nil
		ls := listenersOf(m.changeListeners)
		m.mu.Unlock()
		if s == nil {
			return
		}
		c := s.change()
		for _, l := range ls {
			m.call("OnChange", func() error { l(c); return nil })
		}
	})
}

// noteLive records the live events a transaction applied.
func (m *Manager) noteLive(evs []protocol.Event, applied []int) {
	if len(applied) == 0 {
		return
	}
	m.noteChange(ChangeLive, func(s *changeSet) {
		for _, i := range applied {
			s.event(&evs[i], true)
		}
	})
}

// notePage records what a sync page changed.
func (m *Manager) notePage(resp *protocol.SyncResponse, res store.PageResult) {
	m.noteChange(ChangeSync, func(s *changeSet) { s.Page(resp, res.Dropped) })
}

// noteRecords records records stored from a channel's records pages, and
// those the last page swept.
func (m *Manager) noteRecords(records []protocol.Record, swept []store.RecordKey) {
	if len(records) == 0 && len(swept) == 0 {
		return
	}
	m.noteChange(ChangeSync, func(s *changeSet) {
		for i := range records {
			r := &records[i]
			s.Record(store.RecordKey{CID: r.CID, Collection: r.Collection, ID: r.ID})
		}
		for _, k := range swept {
			s.Record(k)
		}
	})
}

// noteStates records channel states stored whole.
func (m *Manager) noteStates(states []protocol.ChannelResponse, inaccessible []string) {
	m.noteChange(ChangeSync, func(s *changeSet) { s.States(states, inaccessible) })
}

// noteTasks records writes queued, answered or refused.
func (m *Manager) noteTasks(kind ChangeKind, tasks ...store.PendingTask) {
	if len(tasks) == 0 {
		return
	}
	m.noteChange(kind, func(s *changeSet) {
		for _, t := range tasks {
			s.Task(t.CID, t.MessageID, t.Collection, t.RecordID)
		}
	})
}

// noteReset records a reset of the whole cache.
func (m *Manager) noteReset() {
	m.noteChange(ChangeReset, func(s *changeSet) { s.Reset = true })
}
