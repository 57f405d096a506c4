package engine

import (
	"errors"
	"time"

	"github.com/outpostsync/outpost/internal/filelock"
)

// lockRetry is how often a manager without the sync lock tries to take
// it: a holder that closed or died is taken over within about this long.
const lockRetry = 500 * time.Millisecond

// isSyncer reports whether this manager drains and syncs: it holds
// Options.SyncLock, or there is none.
func (m *Manager) isSyncer() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opts.SyncLock == "" || m.lock != nil
}

// tryLock tries to take the sync lock, without waiting, unless it is held
// already or there is none. It reports whether the manager took it now,
// and tells the status listeners when it did.
func (m *Manager) tryLock() bool {
	if !m.takeLock() {
		return false
	}
	m.updateStatus(func(s *Status) { s.Syncer = true })
	return true
}

// takeLock is tryLock without telling the status listeners.
func (m *Manager) takeLock() bool {
	m.mu.Lock()
	if m.opts.SyncLock == "" || m.lock != nil || m.closed {
		m.mu.Unlock()
		return false
	}
	m.mu.Unlock()
	f, err := filelock.TryLock(m.opts.SyncLock, false)
	if err != nil {
		if !errors.Is(err, filelock.ErrLocked) && !m.lockWarned.Swap(true) {
			// Retried every lockRetry: logged once.
			m.log.Warn("syncmanager: cannot take the sync lock; this process does not sync", "error", err)
		}
		return false
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		f.Close()
		return false
	}
	m.lock = f
	m.mu.Unlock()
	m.log.Info("syncmanager: took the sync lock; this process syncs", "lock", m.opts.SyncLock)
	return true
}

// releaseLock gives the sync lock up, at Close.
func (m *Manager) releaseLock() {
	m.mu.Lock()
	f := m.lock
	m.lock = nil
	m.mu.Unlock()
	if f != nil {
		f.Close()
	}
}
