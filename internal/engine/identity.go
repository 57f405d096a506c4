package engine

import (
	"context"
	"errors"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// This file binds the store to its server's identity (protocol.Hello):
// the manager records each hello it meets (the connection's, every sync
// page's), gives the connection the id the store is bound to (sent with
// every request), and stops for good when the server is another one.

// loadBinding reads the store's binding and last hello: an offline start
// knows the server's settings, and the connection sends the bound id from
// its first request. m.mu is held.
func (m *Manager) loadBinding(ctx context.Context) error {
	b, err := m.store.ServerBinding(ctx)
	if err != nil {
		return err
	}
	m.met, m.bound = b.Hello, b.ServerID
	if b.ServerID != "" {
		m.conn.SetServerID(b.ServerID)
	}
	return nil
}

// retention returns the server's retention window from its last hello, 0
// before the first.
func (m *Manager) retention() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.met.Retention()
}

// meetConnHello meets the hello of the connection that is up.
func (m *Manager) meetConnHello(ctx context.Context) error {
	if h := m.conn.Hello(); h != nil {
		return m.meetServer(ctx, *h)
	}
	return nil
}

// meetServer records a hello in the store (see store.DB.MeetServer),
// once per change of it. A store bound to another server gets a
// *client.ServerMismatchError.
func (m *Manager) meetServer(ctx context.Context, h protocol.Hello) error {
	m.mu.Lock()
	same := m.met == h
	m.mu.Unlock()
	if same {
		return nil
	}
	bound, err := m.store.MeetServer(ctx, h)
	if err != nil {
		return serverMismatch(err)
	}
	m.setBinding(h, bound)
	return nil
}

// adoptServer binds a store not bound yet to the server of the last hello
// (see store.DB.AdoptServer): the sync that calls it needed no reset,
// so the store's data is that server's.
func (m *Manager) adoptServer(ctx context.Context) error {
	m.mu.Lock()
	h, bound := m.met, m.bound
	m.mu.Unlock()
	if bound != "" || h.ServerID == "" {
		return nil
	}
	bound, err := m.store.AdoptServer(ctx, h)
	if err != nil {
		return serverMismatch(err)
	}
	m.setBinding(h, bound)
	return nil
}

func (m *Manager) setBinding(h protocol.Hello, bound string) {
	m.mu.Lock()
	m.met = h
	changed := bound != m.bound
	m.bound = bound
	m.mu.Unlock()
	if changed && bound != "" {
		m.log.Info("syncmanager: store bound to its server", "server_id", bound)
		m.conn.SetServerID(bound)
	}
}

// serverMismatch turns the store's refusal of another server into a
// *client.ServerMismatchError; other errors are returned as they are.
func serverMismatch(err error) error {
	var ie *offlinedb.IdentityError
	if errors.As(err, &ie) && ie.Field == "server" {
		return &client.ServerMismatchError{Bound: ie.Stored, Got: ie.Want, Err: err}
	}
	return err
}

func isServerMismatch(err error) bool {
	var sm *client.ServerMismatchError
	return errors.As(err, &sm)
}

// fatalErr returns the error that stopped the manager for good, if one did.
func (m *Manager) fatalErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fatal
}

// stop makes err the manager's terminal state: no more drains or syncs,
// the store and its outbox as they are. It is reported once, through the
// status and the OnError listeners.
func (m *Manager) stop(err error) {
	first := false
	m.updateStatus(func(s *Status) {
		if m.fatal == nil {
			m.fatal, first = err, true
		}
		s.Fatal, s.LastError, s.Syncing = m.fatal, m.fatal, false
	})
	if first {
		m.log.Error("syncmanager: stopped: the server is not the store's", "error", err)
		m.report(&Error{Kind: ErrorFatal, Err: err})
	}
}

// resetsIn reports whether a sync page resets anything: the feed, or a
// channel.
func resetsIn(resp *protocol.SyncResponse) bool {
	if resp.Feed.Reset {
		return true
	}
	for _, cs := range resp.Channels {
		if cs.Status == protocol.ChannelReset {
			return true
		}
	}
	return false
}
