package storetest

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A new PostgreSQL session costs the server a process fork and cold
// catalog caches: 30 to 50 ms of its CPU on the machines the suite runs on,
// where a test's queries take a few. Every store a test opens starts
// several (the CLI's tests open a store per command), so sessions were
// most of what the suite cost PostgreSQL.
//
// So the pooled schemas are reached through a session pool of the test
// process's own, as PgBouncer's session pooling does it: when a client
// disconnects, its server session is reset with DISCARD ALL (which ends
// any transaction, LISTEN, prepared statement, temporary table and
// advisory lock) and kept for the next client that starts up with the same
// parameters: user, database, search_path, application_name. A session
// still busy when its client leaves is closed, never reused. Only trust
// authentication is pooled; any other is relayed as it is, one server
// session per client.
type sessionPool struct {
	server string // PostgreSQL's host:port
	ln     net.Listener

	mu   sync.Mutex
	live map[*pgSession]bool   // every session not closed
	idle []*pgSession          // the idle ones, oldest first
	keys map[string]*pgSession // by the backend key handed to the client
	// changed is closed, and replaced, whenever a session changes state.
	changed chan struct{}
}

// A session is in use by a client, being reset after its client left, or
// idle in the pool.
const (
	inUse = iota
	resetting
	idle
)

// sessions is the process's session pool in front of the server
// SAPIENT_TEST_POSTGRES_URL names, started on first use; nil for a server
// not reached over TCP without TLS, or when no pool can listen.
var sessions = sync.OnceValue(func() *sessionPool {
	addr := plainTCPAddr(os.Getenv(PostgresEnv))
	if addr == "" {
		return nil
	}
	p, err := startSessionPool(addr)
	if err != nil {
		return nil
	}
	return p
})

// plainTCPAddr is the host:port of a PostgreSQL URL that reaches the
// server over TCP without TLS, or "" for any other.
func plainTCPAddr(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "/") || strings.Contains(u.Host, ",") {
		return ""
	}
	q := u.Query()
	if q.Has("host") || q.Has("port") {
		return ""
	}
	switch q.Get("sslmode") {
	case "", "disable", "allow", "prefer":
	default:
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// maxIdleSessions bounds the sessions one test process keeps: go test runs
// several processes, and PostgreSQL allows 100 sessions by default.
const maxIdleSessions = 12

// pgSession is one server session.
type pgSession struct {
	conn   net.Conn
	r      *bufio.Reader
	params string // the startup parameters, sorted
	app    string // the application_name among them
	state  int
	// doomed: PostgreSQL is ending the session, which must not be reused.
	doomed bool
	// watched is closed when the idle session's watch ends: its read,
	// which returns only when the server writes, closes or is
	// interrupted by the one taking the session.
	watched chan struct{}
	dead    bool
	// startup is what the server sent between AuthenticationOk and
	// BackendKeyData (ParameterStatus messages), replayed to every client.
	startup    []byte
	backendKey []byte // process ID and secret key
	status     byte   // the last ReadyForQuery's transaction status
}

func (s *pgSession) pid() int32 { return int32(binary.BigEndian.Uint32(s.backendKey)) }

const (
	cancelRequest = 80877102
	sslRequest    = 80877103
	gssRequest    = 80877104
)

// startSessionPool listens on a loopback port for clients of the
// PostgreSQL server at addr.
func startSessionPool(addr string) (*sessionPool, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &sessionPool{server: addr, ln: ln, live: map[*pgSession]bool{}, keys: map[string]*pgSession{}, changed: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p, nil
}

// Addr is the pool's host:port.
func (p *sessionPool) Addr() string { return p.ln.Addr().String() }

func (p *sessionPool) serve(c net.Conn) {
	defer c.Close()
	cr := bufio.NewReader(c)
	var startup []byte
	for {
		pkt, err := readStartup(cr)
		if err != nil {
			return
		}
		switch code := binary.BigEndian.Uint32(pkt); code {
		case sslRequest, gssRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		case cancelRequest:
			p.cancel(pkt[4:])
			return
		default:
			if code>>16 != 3 {
				return
			}
		}
		startup = pkt
		break
	}
	params, app := parseStartup(startup)
	s := p.take(params)
	if s == nil {
		var err error
		if s, err = p.open(c, startup, params, app); err != nil {
			writeError(c, err)
			return
		}
		if s == nil { // relayed as it is
			return
		}
	}
	key := make([]byte, len(s.backendKey))
	rand.Read(key)
	p.mu.Lock()
	p.keys[string(key)] = s
	p.setState(s, inUse)
	p.mu.Unlock()
	hello := appendMsg(nil, 'R', []byte{0, 0, 0, 0}) // AuthenticationOk
	hello = append(hello, s.startup...)
	hello = appendMsg(hello, 'K', key)
	hello = appendMsg(hello, 'Z', []byte{'I'})
	reusable := false
	if _, err := c.Write(hello); err == nil {
		reusable = relay(c, cr, s)
	}
	p.mu.Lock()
	delete(p.keys, string(key))
	p.setState(s, resetting)
	p.mu.Unlock()
	if !reusable || s.reset() != nil {
		p.mu.Lock()
		p.close(s)
		p.mu.Unlock()
		return
	}
	p.put(s)
}

// setState records s's new state; p.mu is held.
func (p *sessionPool) setState(s *pgSession, state int) {
	s.state = state
	p.live[s] = true
	p.notify()
}

// close ends s; p.mu is held.
func (p *sessionPool) close(s *pgSession) {
	s.conn.Close()
	delete(p.live, s)
	p.notify()
}

// notify wakes whoever waits on p.changed; p.mu is held.
func (p *sessionPool) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// open starts a server session for a client's startup packet. With any
// authentication but trust, it relays the client's connection as it is
// and returns nil.
func (p *sessionPool) open(c net.Conn, startup []byte, params, app string) (*pgSession, error) {
	sc, err := net.Dial("tcp", p.server)
	if err != nil {
		return nil, err
	}
	s := &pgSession{conn: sc, r: bufio.NewReader(sc), params: params, app: app}
	if _, err := sc.Write(binary.BigEndian.AppendUint32(nil, uint32(len(startup)+4))); err == nil {
		_, err = sc.Write(startup)
	}
	for err == nil {
		var typ byte
		var body []byte
		if typ, body, err = readMsg(s.r, nil); err != nil {
			break
		}
		switch {
		case typ == 'R' && len(body) >= 4 && binary.BigEndian.Uint32(body) == 0:
		case typ == 'R', typ == 'E':
			// A password exchange, or a refusal: the client's business.
			if _, err = c.Write(appendMsg(nil, typ, body)); err == nil {
				go func() { io.Copy(c, sc); c.Close() }()
				io.Copy(sc, c)
			}
			sc.Close()
			return nil, nil
		case typ == 'K':
			s.backendKey = body
		case typ == 'Z':
			if len(s.backendKey) < 4 {
				err = errors.New("no BackendKeyData")
				break
			}
			return s, nil
		default:
			s.startup = appendMsg(s.startup, typ, body)
		}
	}
	sc.Close()
	return nil, fmt.Errorf("storetest: session pool: start a session: %v", err)
}

// take returns an idle session started with params, if one is alive.
func (p *sessionPool) take(params string) *pgSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		s := p.idle[i]
		if s.params != params {
			continue
		}
		p.idle = slices.Delete(p.idle, i, i+1)
		s.conn.SetReadDeadline(time.Now())
		<-s.watched
		s.conn.SetReadDeadline(time.Time{})
		if s.dead {
			p.close(s)
			continue
		}
		return s
	}
	return nil
}

// put keeps a reset session, closing the longest idle one past the bound.
func (p *sessionPool) put(s *pgSession) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.doomed {
		p.close(s)
		return
	}
	p.idle = append(p.idle, s)
	p.setState(s, idle)
	s.watched = make(chan struct{})
	go p.watch(s)
	if len(p.idle) > maxIdleSessions {
		p.close(p.idle[0])
		p.idle = slices.Delete(p.idle, 0, 1)
	}
}

// forget closes the idle sessions of application app, whose schema is
// gone.
func (p *sessionPool) forget(app string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = slices.DeleteFunc(p.idle, func(s *pgSession) bool {
		if s.app == app {
			p.close(s)
			return true
		}
		return false
	})
}

// watch reads from an idle session, which has nothing to say: if it
// speaks, PostgreSQL has ended it (pg_terminate_backend sends a FATAL
// error, then closes), and it is closed. take interrupts the read with a
// deadline.
func (p *sessionPool) watch(s *pgSession) {
	_, err := s.r.Peek(1)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		close(s.watched)
		return
	}
	// Told before the lock is taken: take waits for it holding the lock.
	s.dead = true
	close(s.watched)
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.idle, s); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
		p.close(s)
	}
}

// settle waits, up to grace, until every session of application app is
// idle: a client that has left is not yet reset. Then it calls f with the
// server process IDs of those idle sessions, while none is handed out, and
// marks the others, still in use, never to be reused: f ends them.
func (p *sessionPool) settle(app string, grace time.Duration, f func(idle []int32) error) error {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for waiting := true; waiting; {
		busy := false
		for s := range p.live {
			busy = busy || s.app == app && s.state != idle
		}
		if !busy {
			break
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			waiting = false
		}
		p.mu.Lock()
	}
	pids := []int32{}
	for s := range p.live {
		if s.app != app {
			continue
		}
		if s.state == idle {
			pids = append(pids, s.pid())
		} else {
			s.doomed = true
		}
	}
	return f(pids)
}

// cancel forwards a CancelRequest for the session a client holds.
func (p *sessionPool) cancel(key []byte) {
	p.mu.Lock()
	s := p.keys[string(key)]
	p.mu.Unlock()
	if s == nil {
		return
	}
	sc, err := net.Dial("tcp", p.server)
	if err != nil {
		return
	}
	defer sc.Close()
	req := binary.BigEndian.AppendUint32(nil, uint32(8+len(s.backendKey)))
	req = binary.BigEndian.AppendUint32(req, cancelRequest)
	sc.Write(append(req, s.backendKey...))
}

// relay copies messages both ways until the client leaves, and reports
// whether the session is idle then: every Sync, Query and FunctionCall
// the client sent answered by ReadyForQuery, nothing half read.
func relay(c net.Conn, cr *bufio.Reader, s *pgSession) bool {
	var pending atomic.Int64
	clean := make(chan bool, 1)
	go func() {
		typ, err := pump(s.r, c, func(typ byte, body []byte) bool {
			if typ == 'Z' && len(body) == 1 {
				s.status = body[0]
				pending.Add(-1)
			}
			return true
		})
		// A timeout before a message's first byte is relay's own deadline,
		// the session at rest; anything else ends it.
		var ne net.Error
		rest := typ == 0 && errors.As(err, &ne) && ne.Timeout()
		if !rest {
			c.Close()
		}
		clean <- rest
	}()
	pump(cr, s.conn, func(typ byte, _ []byte) bool {
		switch typ {
		case 'X':
			return false
		case 'S', 'Q', 'F':
			pending.Add(1)
		}
		return true
	})
	if pending.Load() != 0 {
		s.conn.Close()
		<-clean
		return false
	}
	s.conn.SetReadDeadline(time.Now())
	ok := <-clean
	s.conn.SetReadDeadline(time.Time{})
	return ok && pending.Load() == 0
}

// pump copies messages from r to w until seen refuses one, or reading or
// writing fails. It writes what it has read when the next read would
// wait, so that a batch of messages crosses in one write, as its sender
// wrote it. It returns the type of the message it stopped at (0 when
// nothing of it arrived, 1 for a failed write) and the error.
func pump(r *bufio.Reader, w io.Writer, seen func(typ byte, body []byte) bool) (byte, error) {
	var buf, out []byte
	for {
		typ, body, err := readMsg(r, buf)
		if err != nil {
			return typ, err
		}
		buf = body
		if !seen(typ, body) {
			if len(out) > 0 {
				if _, err := w.Write(out); err != nil {
					return 1, err
				}
			}
			return typ, nil
		}
		if out = appendMsg(out, typ, body); !hasMsg(r) {
			if _, err := w.Write(out); err != nil {
				return 1, err
			}
			out = out[:0]
		}
	}
}

// reset ends the session's transaction, if any, and its state.
func (s *pgSession) reset() error {
	queries := []string{"DISCARD ALL"}
	if s.status != 'I' {
		queries = []string{"ROLLBACK", "DISCARD ALL"}
	}
	s.conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer s.conn.SetDeadline(time.Time{})
	for _, q := range queries {
		if _, err := s.conn.Write(appendMsg(nil, 'Q', append([]byte(q), 0))); err != nil {
			return err
		}
		var failed bool
		for {
			typ, body, err := readMsg(s.r, nil)
			if err != nil {
				return err
			}
			if typ == 'E' {
				failed = true
			}
			if typ == 'Z' {
				if failed || len(body) != 1 {
					return fmt.Errorf("%s failed", q)
				}
				s.status = body[0]
				break
			}
		}
	}
	return nil
}

// readStartup reads a startup-phase packet: a length, then the rest.
func readStartup(r *bufio.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size < 8 || size > 10000 {
		return nil, errors.New("bad startup packet")
	}
	pkt := make([]byte, size-4)
	_, err := io.ReadFull(r, pkt)
	return pkt, err
}

// readMsg reads one message: its type, and its body, in buf if it fits.
// On an error before the first byte, typ is 0 and body nil.
func readMsg(r *bufio.Reader, buf []byte) (typ byte, body []byte, err error) {
	var h [5]byte
	n, err := io.ReadFull(r, h[:])
	if err != nil {
		if n > 0 {
			return 1, nil, io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(h[1:])
	if size < 4 {
		return 1, nil, errors.New("bad message length")
	}
	body = slices.Grow(buf[:0], int(size-4))[:size-4]
	if _, err := io.ReadFull(r, body); err != nil {
		return 1, nil, io.ErrUnexpectedEOF
	}
	return h[0], body, nil
}

// hasMsg reports whether r holds a whole message already.
func hasMsg(r *bufio.Reader) bool {
	if r.Buffered() < 5 {
		return false
	}
	h, _ := r.Peek(5) // buffered: Peek does not read
	return r.Buffered() >= 1+int(binary.BigEndian.Uint32(h[1:]))
}

func appendMsg(b []byte, typ byte, body []byte) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)+4))
	return append(b, body...)
}

// parseStartup returns a startup packet's protocol version and
// parameters, in an order of their own, and its application_name.
func parseStartup(startup []byte) (params, app string) {
	fields := strings.Split(string(startup[4:]), "\x00")
	var pairs []string
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == "application_name" {
			app = fields[i+1]
		}
		if fields[i] != "" {
			pairs = append(pairs, fields[i]+"="+fields[i+1])
		}
	}
	slices.Sort(pairs)
	return fmt.Sprint(binary.BigEndian.Uint32(startup), pairs), app
}

// writeError tells a client, in PostgreSQL's terms, why it has no session.
func writeError(c net.Conn, err error) {
	var b []byte
	for _, f := range []string{"SFATAL", "VFATAL", "C08006", "M" + err.Error()} {
		b = append(append(b, f...), 0)
	}
	c.Write(appendMsg(nil, 'E', append(b, 0)))
}
