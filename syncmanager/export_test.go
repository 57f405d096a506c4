package syncmanager

// SetLiveQueueCap bounds the live events m queues to n, so a test can
// overflow the queue without ten thousand events.
func SetLiveQueueCap(m *Manager, n int) {
	m.liveMu.Lock()
	m.liveCap = n
	m.liveMu.Unlock()
}
