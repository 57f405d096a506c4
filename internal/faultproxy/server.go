package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// ErrServerClosed is returned by Server.Start after Close.
var ErrServerClosed = errors.New("faultproxy: server closed")

// Server is an HTTP server on a loopback address that keeps its address
// across Stop and Start, to test a server restart: clients configured with
// its URL find it again on the same port. Make one with NewServer.
type Server struct {
	handler http.Handler
	addr    string // fixed after the first listen

	mu     sync.Mutex // guards the fields below
	srv    *http.Server
	conns  map[net.Conn]struct{} // every connection of srv, hijacked ones too
	served chan struct{}         // closed when srv's Serve returns
	closed bool
}

// NewServer starts h on 127.0.0.1 at a free port.
func NewServer(h http.Handler) (*Server, error) {
	s := &Server{handler: h}
	if err := s.start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr returns the server's "127.0.0.1:port" address, which Start reuses.
func (s *Server) Addr() string { return s.addr }

// URL returns "http://" followed by Addr.
func (s *Server) URL() string { return "http://" + s.addr }

// Stop closes the listener and every connection, hijacked ones (such as
// WebSockets) included, and waits for the server to stop serving. Clients
// then see a reset or refused connection until Start. Stop on a stopped
// server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, served, conns := s.srv, s.served, s.conns
	s.srv, s.conns = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close() // closes the listener and the connections it still owns
	for c := range conns {
		c.Close() // hijacked ones
	}
	<-served
}

// Start listens on the server's address again and serves the same handler.
// It fails if the server is running, closed, or the port was taken.
func (s *Server) Start() error {
	s.mu.Lock()
	running, closed := s.srv != nil, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return ErrServerClosed
	case running:
		return errors.New("faultproxy: server already running")
	}
	return s.start(s.addr)
}

// Restart is Stop then Start.
func (s *Server) Restart() error {
	s.Stop()
	return s.Start()
}

// Close stops the server for good. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
	return nil
}

func (s *Server) start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("faultproxy: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.handler}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.srv != srv {
			return // a connection of an earlier run
		}
		switch st {
		case http.StateNew:
			s.conns[c] = struct{}{}
		case http.StateClosed:
			delete(s.conns, c)
		}
	}
	served := make(chan struct{})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.addr = ln.Addr().String()
	s.srv, s.served, s.conns = srv, served, make(map[net.Conn]struct{})
	s.mu.Unlock()
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	return nil
}
