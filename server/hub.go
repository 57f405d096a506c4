package server

import (
	"log/slog"
	"sync"

	"github.com/coder/websocket"
)

// hub holds this node's WebSockets and hands each event to those of its
// recipients. It never waits for a connection: each has a bounded buffer,
// and one that falls behind by more than that is cut off (it syncs when
// it reconnects). The Broker decides the order events reach it in.
type hub struct {
	log *slog.Logger
	// onDrop, if set, is told how many connections an event was dropped
	// for (each is cut off). Set before the hub is used.
	onDrop func(n int)

	mu     sync.Mutex // guards the fields below
	conns  map[string]map[*wsConn]struct{}
	closed bool

	wg sync.WaitGroup // connections being served
}

func newHub(log *slog.Logger) *hub {
	return &hub{log: log, conns: map[string]map[*wsConn]struct{}{}}
}

// add registers a connection; false once the hub is closed.
func (h *hub) add(c *wsConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.conns[c.user] == nil {
		h.conns[c.user] = map[*wsConn]struct{}{}
	}
	h.conns[c.user][c] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *hub) remove(c *wsConn) {
	h.mu.Lock()
	delete(h.conns[c.user], c)
	if len(h.conns[c.user]) == 0 {
		delete(h.conns, c.user)
	}
	h.mu.Unlock()
	h.wg.Done()
}

// send queues an encoded event for every connection of the recipients.
// A connection with no room for it is cut off, and counted by onDrop.
func (h *hub) send(data []byte, recipients []string) {
	dropped := 0
	defer func() {
		if dropped > 0 && h.onDrop != nil {
			h.onDrop(dropped)
		}
	}()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range recipients {
		for c := range h.conns[u] {
			if !c.enqueue(data) {
				dropped++
			}
		}
	}
}

// connections returns how many WebSockets are open.
func (h *hub) connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, cs := range h.conns {
		n += len(cs)
	}
	return n
}

// close ends every connection and waits for them to finish.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for _, cs := range h.conns {
		for c := range cs {
			c.kill(websocket.StatusGoingAway, "server shutting down")
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// wsConn is one client WebSocket or event stream.
type wsConn struct {
	id   string
	user string
	// ready has a value when queue may hold events; the connection's
	// writer takes them with next.
	ready chan struct{}

	mu    sync.Mutex // guards queue
	queue [][]byte   // at most limit; nil when empty, so an idle connection holds no buffer
	limit int

	once   sync.Once
	done   chan struct{}
	status websocket.StatusCode
	reason string
}

func newWSConn(id, user string, buffer int) *wsConn {
	return &wsConn{id: id, user: user, limit: buffer, ready: make(chan struct{}, 1), done: make(chan struct{})}
}

// slowConsumer is the close reason of a connection cut off for falling
// behind.
const slowConsumer = "slow consumer: events were dropped; reconnect and sync"

// enqueue queues data, or cuts the connection off when its buffer is
// full, and reports whether data was queued.
func (c *wsConn) enqueue(data []byte) bool {
	c.mu.Lock()
	full := len(c.queue) >= c.limit
	if !full {
		c.queue = append(c.queue, data)
	}
	c.mu.Unlock()
	if full {
		c.kill(websocket.StatusPolicyViolation, slowConsumer)
		return false
	}
	select {
	case c.ready <- struct{}{}:
	default: // already signalled
	}
	return true
}

// next takes the oldest queued event; false when none is queued or the
// connection is to close.
func (c *wsConn) next() ([]byte, bool) {
	select {
	case <-c.done:
		return nil, false
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return nil, false
	}
	data := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	return data, true
}

// kill asks the connection to close with a status; the first call wins.
func (c *wsConn) kill(status websocket.StatusCode, reason string) {
	c.once.Do(func() {
		c.status, c.reason = status, reason
		close(c.done)
	})
}
