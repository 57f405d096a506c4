package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy from a loopback address to a target address with
// switchable faults. Make one with New.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup // the accept loop and every link's goroutines

	mu       sync.Mutex    // guards the fields below
	flowing  chan struct{} // closed while bytes may flow; open while stalled
	delay    time.Duration
	refuse   bool
	links    map[*link]struct{}
	cuts     int // Cut and Reset calls, so a link set up across one is closed too
	accepted int
	closed   bool
}

// New starts a proxy on 127.0.0.1 (a free port) that forwards to target, a
// "host:port" address.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	flowing := make(chan struct{})
	close(flowing)
	p := &Proxy{
		ln:      ln,
		target:  target,
		flowing: flowing,
		links:   make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr returns the proxy's "127.0.0.1:port" address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns "http://" followed by the proxy's address, the base URL of an
// HTTP server behind it.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Cut closes every open connection on both sides with a normal close (FIN).
// New connections are accepted as before.
func (p *Proxy) Cut() { p.closeLinks(false) }

// Reset aborts every open connection on both sides with a TCP RST (linger
// zero), so that the peers see "connection reset" rather than end of file.
func (p *Proxy) Reset() { p.closeLinks(true) }

// Stall stops all bytes in both directions on open and new connections,
// keeping the sockets open, until Heal.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.flowing:
		p.flowing = make(chan struct{})
	default: // already stalled
	}
}

// SetDelay makes the proxy hold every chunk of bytes it reads for d before
// writing it on, in both directions. Zero removes the delay.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Refuse makes the proxy reset each new connection as soon as it accepts it
// (no upstream connection is made), until Heal. Open connections are left
// alone; call Cut or Reset as well for a full outage.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = true
}

// Heal undoes Stall, SetDelay and Refuse. Bytes a stall held back are passed
// on.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = 0
	p.refuse = false
	select {
	case <-p.flowing:
	default:
		close(p.flowing)
	}
}

// Conns returns how many proxied connections are open.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Accepted returns how many connections the proxy has accepted since New,
// refused ones included: a count of the client's dial attempts.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Close stops accepting, closes every connection and waits for the proxy's
// goroutines to end. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.closeLinks(false)
	p.wg.Wait()
	return err
}

func (p *Proxy) closeLinks(reset bool) {
	p.mu.Lock()
	p.cuts++
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close(reset)
	}
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient accept error; try again
		}
		p.mu.Lock()
		p.accepted++
		refuse, closed, cuts := p.refuse, p.closed, p.cuts
		p.mu.Unlock()
		if refuse || closed {
			abort(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c, cuts)
	}
}

// serve links down to a new upstream connection. cuts is p.cuts when down
// was accepted: a Cut or Reset while the upstream is dialled closes the
// link as it would have closed an open one.
func (p *Proxy) serve(down net.Conn, cuts int) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		abort(down) // the target is down: the client sees a reset
		return
	}
	l := &link{down: down, up: up, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed || p.cuts != cuts {
		p.mu.Unlock()
		l.close(false)
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, up, down) }()
	go func() { defer wg.Done(); p.pipe(l, down, up) }()
	wg.Wait()

	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// pipe copies src to dst through the proxy's faults until either side fails
// or the link is closed, then closes the link.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer l.close(false)
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			readAt := time.Now()
			if !p.waitToSend(l, readAt) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				// A reset on one side is passed on as a reset.
				l.close(true)
			}
			return
		}
	}
}

// waitToSend waits until bytes read at readAt may be written: the proxy is
// not stalled and the delay has passed. It returns false if the link closed
// meanwhile.
func (p *Proxy) waitToSend(l *link, readAt time.Time) bool {
	for {
		p.mu.Lock()
		flowing, delay := p.flowing, p.delay
		p.mu.Unlock()
		select {
		case <-flowing:
		case <-l.done:
			return false
		}
		wait := time.Until(readAt.Add(delay))
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return false
		}
		// Loop: a stall may have begun during the delay.
	}
}

// link is one proxied connection: down is the client's side, up the
// target's.
type link struct {
	down, up net.Conn
	once     sync.Once
	done     chan struct{} // closed by close
}

func (l *link) close(reset bool) {
	l.once.Do(func() {
		close(l.done)
		if reset {
			abort(l.down)
			abort(l.up)
			return
		}
		l.down.Close()
		l.up.Close()
	})
}

// abort closes c with a TCP RST instead of a FIN.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
