package engine

import (
	"context"
	"time"

	"github.com/outpostsync/outpost/internal/changelog"
)

// changeLog is what the manager needs of a Store to hear the changes that
// other processes make to it (see store.DB.ChangesSince). *store.DB
// implements it; a Store without it hears only its own process's changes.
type changeLog interface {
	Origin() string
	DataVersion(ctx context.Context) (int64, error)
	LastChange(ctx context.Context) (int64, error)
	ChangesSince(ctx context.Context, after int64, limit int) ([]changelog.Entry, bool, error)
}

// changePoll is how often the manager asks whether another process
// changed the store: a change made elsewhere reaches the change listeners
// about this long after its commit, at most.
const changePoll = 50 * time.Millisecond

// changeBatch caps the change log rows read at once.
const changeBatch = 500

// startWatch starts the goroutine that hears other processes' changes,
// from the newest row of the change log on, if the Store keeps one. It
// runs until Close.
func (m *Manager) startWatch(ctx context.Context) {
	log, ok := m.raw.(changeLog)
	if !ok {
		return
	}
	last, err := log.LastChange(ctx)
	if err != nil {
		m.log.Warn("syncmanager: change log unreadable; other processes' changes go unheard", "error", err)
		return
	}
	m.wg.Add(1)
	go m.watch(log, last)
}

// watch polls the store's data_version and, when it moved, delivers the
// change log rows that other processes wrote past last.
func (m *Manager) watch(log changeLog, last int64) {
	defer m.wg.Done()
	version := int64(-1)
	for {
		t := m.clk.NewTimer(changePoll)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		v, err := log.DataVersion(m.ctx)
		if err != nil || v == version {
			continue
		}
		version = v
		last = m.readChanges(log, last)
	}
}

// readChanges delivers the rows past last that other processes wrote, and
// returns the last row read.
func (m *Manager) readChanges(log changeLog, last int64) int64 {
	var theirs []changelog.Entry
	lost := false
	for {
		entries, gap, err := log.ChangesSince(m.ctx, last, changeBatch)
		if err != nil {
			if m.ctx.Err() == nil {
				m.log.Warn("syncmanager: change log unreadable", "error", err)
			}
			break
		}
		lost = lost || gap
		for _, e := range entries {
			if e.Origin != log.Origin() {
				theirs = append(theirs, e)
			}
			last = e.ID
		}
		if len(entries) < changeBatch {
			break
		}
	}
	var kind ChangeKind
	for _, e := range theirs {
		kind |= ChangeKind(e.Kind)
	}
	if lost {
		kind |= ChangeReset
	}
	if kind == 0 {
		return last
	}
	m.noteChange(kind, func(s *changeSet) {
		for _, e := range theirs {
			s.Add(e)
		}
		s.Reset = s.Reset || lost
	})
	if kind&(ChangeWrite|ChangeTask|ChangeReset) != 0 {
		m.refreshCounts()
	}
	if kind&ChangeWrite != 0 && m.isSyncer() {
		// Another process queued writes: send them.
		m.requestDrain()
	}
	return last
}
