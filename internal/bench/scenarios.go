package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/token"
)

// prepared is a scenario ready to run: its clients, connected to its
// server, and how each builds its next request.
type prepared struct {
	name    string
	load    *load
	workers []*worker
	close   func()
	note    func() string                                    // a remark for the report, or ""
	before  func(ctx context.Context, d time.Duration) error // before each phase of length d
	after   func()                                           // after each phase
	warm    bool                                             // warm-up done
	total   phase                                            // measured so far
	allocs  uint64
	cpu     time.Duration
	peakRSS float64
}

// prepare starts what scenario name needs (a floor server, a pool of fresh
// tokens) and its clients.
func (e *env) prepare(ctx context.Context, name string) (*prepared, error) {
	switch name {
	case Token:
		return e.prepareToken(name, e.addr, e.cfg.Credentials, func() {}), nil
	case TokenThousand:
		return e.prepareToken(name, e.addr, min(thousand, e.cfg.Credentials), func() {}), nil
	case Me:
		return e.prepareBearer(name, e.addr, func() {})
	case Check:
		toks, err := e.workerTokens()
		if err != nil {
			return nil, err
		}
		reqs := make([][]byte, len(toks))
		for i, tok := range toks {
			reqs[i] = []byte("GET /edge/check?route=bench HTTP/1.1\r\nHost: " + e.addr + "\r\nAuthorization: Bearer " + tok +
				"\r\nX-Original-Method: GET\r\nX-Original-URI: /shipments/1\r\n\r\n")
		}
		return e.newPrepared(name, e.addr, func(w *worker) []byte { return reqs[w.id] }, func() {}), nil
	case TokenUnrecorded:
		return e.unrecorded(e.prepareToken(name, e.addr, e.cfg.Credentials, func() {})), nil
	case MeUnrecorded:
		p, err := e.prepareBearer(name, e.addr, func() {})
		if err != nil {
			return nil, err
		}
		return e.unrecorded(p), nil
	case MeCold:
		return e.prepareMeCold(ctx)
	case Floor:
		return e.withFloor(ctx, floorHandler(filler(e.meBodyLen)), func(addr string, stop func()) (*prepared, error) {
			return e.prepareBearer(name, addr, stop)
		})
	case FloorSign:
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		return e.withFloor(ctx, floorSignHandler(key, e.signingInput, e.tokenBodyLen), func(addr string, stop func()) (*prepared, error) {
			return e.prepareToken(name, addr, e.cfg.Credentials, stop), nil
		})
	case FloorVerify:
		jwk, ok := e.srv.Keys.PublicKey(e.kid)
		pub, isEC := jwk.Key.(*ecdsa.PublicKey)
		if !ok || !isEC {
			return nil, fmt.Errorf("bench: signing key %s is not published or not ECDSA", e.kid)
		}
		return e.withFloor(ctx, floorVerifyHandler(pub, filler(e.meBodyLen)), func(addr string, stop func()) (*prepared, error) {
			return e.prepareBearer(name, addr, stop)
		})
	}
	return nil, fmt.Errorf("bench: unknown scenario %q", name)
}

// unrecorded turns usage recording off for p's phases only.
func (e *env) unrecorded(p *prepared) *prepared {
	before, after := p.before, p.after
	p.before = func(ctx context.Context, d time.Duration) error {
		e.srv.Usage.SetEnabled(false)
		return before(ctx, d)
	}
	p.after = func() {
		after()
		e.srv.Usage.SetEnabled(true)
	}
	return p
}

func (e *env) withFloor(ctx context.Context, h http.Handler, prep func(addr string, stop func()) (*prepared, error)) (*prepared, error) {
	addr, stop, err := startFloor(ctx, h)
	if err != nil {
		return nil, err
	}
	p, err := prep(addr, stop)
	if err != nil {
		stop()
		return nil, err
	}
	return p, nil
}

func (e *env) newPrepared(name, addr string, next func(w *worker) []byte, stop func()) *prepared {
	ws := newWorkers(addr, e.cfg.Concurrency)
	return &prepared{
		name: name, workers: ws,
		load:   &load{addr: addr, want: 200, next: next},
		close:  func() { closeWorkers(ws); stop() },
		note:   func() string { return "" },
		before: func(context.Context, time.Duration) error { return nil },
		after:  func() {},
	}
}

// prepareToken sends client_secret_basic token requests to addr, each for
// a credential drawn at random from the first n.
func (e *env) prepareToken(name, addr string, n int, stop func()) *prepared {
	return e.newPrepared(name, addr, func(w *worker) []byte {
		w.buf = e.tokenRequest(w.buf[:0], w.rng.IntN(n))
		return w.buf
	}, stop)
}

// prepareBearer sends GET /api/v1/me to addr, each client with the token
// it got once, as real clients reuse theirs.
func (e *env) prepareBearer(name, addr string, stop func()) (*prepared, error) {
	toks, err := e.workerTokens()
	if err != nil {
		return nil, err
	}
	reqs := make([][]byte, len(toks))
	for i := range toks {
		reqs[i] = e.meRequest(toks[i])
	}
	return e.newPrepared(name, addr, func(w *worker) []byte { return reqs[w.id] }, stop), nil
}

// prepareMeCold sends GET /api/v1/me with a token the server has never
// seen on every request. Before each phase it signs as many fresh tokens
// as that phase can possibly use, in-process with the server's own issuer
// and key; they are dropped after it, so they take memory only while they
// are needed.
func (e *env) prepareMeCold(ctx context.Context) (*prepared, error) {
	var (
		pool     []string
		next     atomic.Int64
		ranOut   int
		poolSize int
	)
	p := e.newPrepared(MeCold, e.addr, func(w *worker) []byte {
		k := next.Add(1) - 1
		if k >= int64(len(pool)) {
			return nil
		}
		w.buf = append(w.buf[:0], "GET /api/v1/me HTTP/1.1\r\nHost: "...)
		w.buf = append(w.buf, e.addr...)
		w.buf = append(w.buf, "\r\nAuthorization: Bearer "...)
		w.buf = append(w.buf, pool[k]...)
		w.buf = append(w.buf, "\r\n\r\n"...)
		return w.buf
	}, func() {})
	p.before = func(ctx context.Context, d time.Duration) error {
		var err error
		poolSize = e.coldPoolSize(d)
		pool, err = e.freshTokens(ctx, poolSize)
		next.Store(0)
		return err
	}
	p.after = func() {
		if next.Load() > int64(len(pool)) {
			ranOut++
		}
		pool = nil
	}
	p.note = func() string {
		if ranOut > 0 {
			return fmt.Sprintf("the pool of %d fresh tokens ran out %d times; the measurement is shorter than asked", poolSize, ranOut)
		}
		return ""
	}
	return p, nil
}

// coldPoolSize bounds how many fresh tokens me-cold can use: at a fixed
// rate, rate × time; otherwise what the machine's cores can verify in
// that time, measured here, plus a margin.
func (e *env) coldPoolSize(d time.Duration) int {
	secs := d.Seconds()
	if e.cfg.Rate > 0 {
		return int(e.cfg.Rate*secs*1.05) + e.cfg.Concurrency
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("calibration"))
	r, s, _ := ecdsa.Sign(rand.Reader, key, digest[:])
	const n = 50
	start := time.Now()
	for range n {
		ecdsa.Verify(&key.PublicKey, digest[:], r, s)
	}
	per := time.Since(start) / n
	perSec := float64(runtime.GOMAXPROCS(0)) / per.Seconds()
	size := int(perSec*secs*1.3) + e.cfg.Concurrency
	return min(size, maxColdPool)
}

// maxColdPool bounds the memory the fresh tokens take (about 500 bytes
// each).
const maxColdPool = 1_000_000

// freshTokens signs n tokens with the server's issuer and current key,
// spread over up to 1000 credentials, on every core.
func (e *env) freshTokens(ctx context.Context, n int) ([]string, error) {
	m := min(e.cfg.Credentials, 1000)
	entries := make([]*credential.Entry, m)
	now := time.Now()
	for i := range entries {
		id, _, err := e.kr.credential(i * e.cfg.Credentials / m)
		if err != nil {
			return nil, err
		}
		if entries[i], err = e.srv.Cache.Lookup(ctx, id, now); err != nil {
			return nil, fmt.Errorf("bench: credential %s: %w", id, err)
		}
	}
	iss := &token.Issuer{Signer: e.srv.Keys, Issuer: e.srv.Issuer(), Audience: e.srv.Issuer(), TTL: time.Hour, Rand: rand.Reader}
	pool := make([]string, n)
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		fail  atomic.Value
		procs = runtime.GOMAXPROCS(0)
	)
	e.status().show(false, "me-cold: signing %d fresh tokens", n)
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				ent := entries[k%m]
				t, err := iss.Issue(ent, ent.Scope, "", time.Now())
				if err != nil {
					fail.Store(err)
					return
				}
				pool[k] = t.Token
			}
		}()
	}
	wg.Wait()
	e.status().clear()
	if err, _ := fail.Load().(error); err != nil {
		return nil, fmt.Errorf("bench: sign fresh tokens: %w", err)
	}
	return pool, ctx.Err()
}

// decodeSegment decodes one base64url segment of a compact JWS.
func decodeSegment(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bench: malformed token segment: %w", err)
	}
	return b, nil
}
