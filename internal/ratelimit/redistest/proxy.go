package redistest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a Redis server (or any server named
// by a URL with a host, PostgreSQL too) until Cut, which closes them and
// stops listening, as a server that went away; Restore listens again on
// the same address.
type Proxy struct {
	// URL is the Redis URL that reaches the server through the proxy.
	URL string

	t      testing.TB
	addr   string // the proxy's own address
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

// NewProxy starts a proxy to the Redis server of redisURL; it stops when
// the test ends.
func NewProxy(t testing.TB, redisURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: u.Host}
	p.listen("127.0.0.1:0")
	u.Host = p.addr
	p.URL = u.String()
	t.Cleanup(p.Cut)
	return p
}

func (p *Proxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("redistest proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, r)
		p.mu.Unlock()
		go func() { io.Copy(r, c); r.Close() }()
		go func() { io.Copy(c, r); c.Close() }()
	}
}

// Cut closes every connection and stops listening.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Restore listens again where the proxy listened before.
func (p *Proxy) Restore() { p.listen(p.addr) }
