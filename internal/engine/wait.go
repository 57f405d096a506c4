package engine

import "context"

// WaitForFirstSync waits until a sync of this Manager has succeeded, the
// first of its life (it returns at once after that), or ctx ends, or the
// manager closes (ErrClosed). It asks for nothing: under SyncOnConnect the
// first connection syncs; under the other policies it waits for a sync
// that SyncNow, WaitSynced or a reconnect starts.
func (m *Manager) WaitForFirstSync(ctx context.Context) error {
	return m.waitUntil(ctx, func() bool { return m.syncs > 0 })
}

// WaitSynced waits until the outbox is empty and a sync that started after
// the call has succeeded: every write made before the call has reached the
// server (or the failed list), and the store holds what the server had
// when that sync ran. Online, it asks for a drain and sync at once, and
// again each time the connection comes back; offline it waits for the
// connection. A failed sync is retried with the manager's backoff. It
// returns when ctx ends (ctx.Err()) or the manager closes (ErrClosed).
// In a manager that is not the syncer (Status.Syncer false: another
// process holds Options.SyncLock) the syncs are that process's, so it
// waits until this one takes the lock over; watch the change listeners
// for the other process's syncs instead.
func (m *Manager) WaitSynced(ctx context.Context) error {
	m.mu.Lock()
	start := m.cycles // a sync of a later cycle started after the call
	m.mu.Unlock()
	asked := false
	return m.waitUntil(ctx, func() bool {
		if m.syncedGen > start && m.status.Pending == 0 && !m.wantDrain {
			return true
		}
		if !m.status.Online {
			asked = false
		} else if !asked {
			asked = true
			m.wantSync = true
			defer m.poke()
		}
		return false
	})
}

// waitUntil calls done under m.mu at each status change until it returns
// true, ctx ends or the manager closes.
func (m *Manager) waitUntil(ctx context.Context, done func() bool) error {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return ErrClosed
		}
		ok := done()
		changed := m.changed
		m.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-m.ctx.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Flush sends the outbox now and waits for that drain (or ctx): unlike
// SyncNow it does not sync. It returns ErrOffline when the connection is
// down, and the drain's error when a write could not be sent (the write
// stays in the outbox and is retried later).
func (m *Manager) Flush(ctx context.Context) error {
	return m.runCycle(ctx, func() { m.wantDrain = true })
}
