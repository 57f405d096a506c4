package server

import (
	"context"
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

// storeServerID returns the store's ServerID, read once: it is made with
// the database and never changes under a running server.
func (s *Server) storeServerID(ctx context.Context) (string, error) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if s.serverID == "" {
		id, err := s.store.ServerID(ctx)
		if err != nil {
			return "", err
		}
		s.serverID = id
	}
	return s.serverID, nil
}

// hello returns what the server says of itself to every client.
func (s *Server) hello(ctx context.Context) (*protocol.Hello, error) {
	id, err := s.storeServerID(ctx)
	if err != nil {
		return nil, err
	}
	return &protocol.Hello{ServerID: id, RetentionMS: s.cfg.Retention.Milliseconds(), SyncPageMax: s.cfg.SyncPageMax}, nil
}

// helloRules adds the record rules in force in tx to h.
func (s *Server) helloRules(tx Tx, h *protocol.Hello) error {
	cr, err := s.rules.current(tx)
	if err != nil {
		return err
	}
	h.RulesHash, h.RulesVersion = cr.hash, cr.version
	return nil
}

// checkServerID refuses a request whose Outpost-Server-Id names another
// server: the client's store holds another server's data, and nothing of
// the request may be done here.
func (s *Server) checkServerID(r *http.Request) error {
	want := r.Header.Get(protocol.HeaderServerID)
	if want == "" {
		return nil
	}
	id, err := s.storeServerID(r.Context())
	if err != nil {
		return err
	}
	if want != id {
		return protocol.NewAPIError(protocol.CodeServerMismatch,
			"%s %q: this is server %q, not the one the client's store is bound to", protocol.HeaderServerID, want, id)
	}
	return nil
}
