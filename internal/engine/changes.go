package engine

import (
	"sort"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// changeSet accumulates changes not yet delivered.
type changeSet struct {
	kind     ChangeKind
	channels map[string]bool
	messages map[string]bool
	records  map[store.RecordKey]bool
	many     bool
	reset    bool
	events   []protocol.Event
}

func (s *changeSet) channel(cid string) {
	if cid != "" {
		s.channels[cid] = true
	}
}

func (s *changeSet) message(id string) {
	if id == "" || s.many {
		return
	}
	s.messages[id] = true
	if len(s.messages) > MaxChangeIDs {
		s.many, s.messages = true, map[string]bool{}
	}
}

func (s *changeSet) record(k store.RecordKey) {
	if k.ID == "" || s.many {
		return
	}
	s.records[k] = true
	if len(s.records) > MaxChangeIDs {
		s.many, s.records = true, map[store.RecordKey]bool{}
	}
}

// event records what an event touches; live says it is a live event, to
// be listed in Change.Events.
func (s *changeSet) event(ev *protocol.Event, live bool) {
	s.channel(ev.CID)
	if ev.Message != nil {
		s.message(ev.Message.ID)
		s.channel(ev.Message.CID)
	}
	if ev.Reaction != nil {
		s.message(ev.Reaction.MessageID)
	}
	if ev.Channel != nil {
		s.channel(ev.Channel.CID)
	}
	if r := ev.Record; r != nil {
		cid := r.CID
		if cid == "" {
			cid = ev.CID
		}
		s.record(store.RecordKey{CID: cid, Collection: r.Collection, ID: r.ID})
	}
	if live && len(s.events) < MaxChangeIDs {
		s.events = append(s.events, *ev)
	}
}

func (s *changeSet) task(t store.PendingTask) {
	s.channel(t.CID)
	s.message(t.MessageID)
	s.record(store.RecordKey{CID: t.CID, Collection: t.Collection, ID: t.RecordID})
}

func (s *changeSet) change() Change {
	c := Change{Kind: s.kind, Many: s.many, Reset: s.reset, Events: s.events}
	for cid := range s.channels {
		c.Channels = append(c.Channels, cid)
	}
	sort.Strings(c.Channels)
	if !s.many {
		for id := range s.messages {
			c.Messages = append(c.Messages, id)
		}
		sort.Strings(c.Messages)
		for k := range s.records {
			c.Records = append(c.Records, k)
		}
		sort.Slice(c.Records, func(i, j int) bool {
			a, b := c.Records[i], c.Records[j]
			return a.CID < b.CID || a.CID == b.CID && (a.Collection < b.Collection || a.Collection == b.Collection && a.ID < b.ID)
		})
	}
	return c
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
		m.changes = &changeSet{channels: map[string]bool{}, messages: map[string]bool{}, records: map[store.RecordKey]bool{}}
	}
	m.changes.kind |= kind
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
	m.noteChange(ChangeSync, func(s *changeSet) {
		for i := range resp.Feed.Events {
			s.event(&resp.Feed.Events[i], false)
		}
		for i := range resp.Events {
			s.event(&resp.Events[i], false)
		}
		for _, cid := range resp.Feed.Channels {
			s.channel(cid)
		}
		for _, cs := range resp.Channels {
			if cs.Status != protocol.ChannelOK {
				s.channel(cs.CID)
			}
		}
		for _, cid := range res.Dropped {
			s.channel(cid)
		}
	})
}

// noteRecords records records stored from a channel's records pages.
func (m *Manager) noteRecords(records []protocol.Record) {
	m.noteChange(ChangeSync, func(s *changeSet) {
		for i := range records {
			r := &records[i]
			s.record(store.RecordKey{CID: r.CID, Collection: r.Collection, ID: r.ID})
		}
	})
}

// noteStates records channel states stored whole.
func (m *Manager) noteStates(states []protocol.ChannelResponse, inaccessible []string) {
	m.noteChange(ChangeSync, func(s *changeSet) {
		for i := range states {
			s.channel(states[i].Channel.CID)
			if len(states[i].Messages) > 0 {
				// A channel stored whole: its messages are reread.
				for j := range states[i].Messages {
					s.message(states[i].Messages[j].ID)
				}
			}
		}
		for _, cid := range inaccessible {
			s.channel(cid)
		}
	})
}

// noteTasks records writes queued, answered or refused.
func (m *Manager) noteTasks(kind ChangeKind, tasks ...store.PendingTask) {
	if len(tasks) == 0 {
		return
	}
	m.noteChange(kind, func(s *changeSet) {
		for _, t := range tasks {
			s.task(t)
		}
	})
}

// noteReset records a reset of the whole cache.
func (m *Manager) noteReset() {
	m.noteChange(ChangeReset, func(s *changeSet) { s.reset = true })
}
