// Package faultproxy injects network faults between a client and a server in
// tests, in process, on the loopback interface.
//
// A Proxy listens on 127.0.0.1 and forwards every TCP connection it accepts
// to a target address. While it runs, a test can:
//
//   - Cut: close every open connection cleanly (FIN), as a server going away;
//   - Reset: abort every open connection with a TCP RST;
//   - Stall: keep the sockets open but pass no bytes in either direction, as
//     a network that silently drops packets (a partition, a dead NAT entry);
//   - SetDelay: hold every chunk of bytes for a while before passing it on;
//   - Refuse: reset every new connection as soon as it is accepted, so that
//     dials fail, while open connections carry on;
//   - Heal: undo Stall, SetDelay and Refuse (bytes held by a stall flow
//     again, as after a partition heals).
//
// Faults change what the proxy does from the moment the call returns; Cut and
// Reset act on the connections open at that moment and leave later ones be.
//
// A Server is an HTTP server on a fixed loopback address that can be stopped
// and started again on the same port, for tests of a server restart.
//
// # Lifecycle
//
// New -> faults -> Close for a Proxy, NewServer -> Stop/Start -> Close for a
// Server. Close stops every goroutine the value started and waits for them,
// so tests that check for leaked goroutines pass.
//
// # Concurrency
//
// All methods of Proxy and Server are safe for concurrent use.
package faultproxy
