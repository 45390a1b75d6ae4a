package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/store"
)

// env is the running bench: the database, the provisioned credentials and
// the real server on loopback.
type env struct {
	cfg    *Config
	kr     *keyring
	prov   *provisioned
	dbKind string
	tmpDir string

	st      *store.SQL
	srv     *server.Server
	addr    string
	ready   time.Duration
	loaded  time.Duration
	used    time.Duration // writing this hour's usage rows (Config.UsedThisHour)
	stop    context.CancelFunc
	stopped chan error

	// Learnt from one real exchange after start: the sizes of the two
	// answers, the signed part of a real access token, and its key ID.
	tokenBodyLen int
	meBodyLen    int
	signingInput string
	kid          string

	tokens []string // one per client, for me, floor and floor-verify
}

// setUp provisions the credentials and starts the server as `sapient serve`
// does, timing how long it takes to be ready.
func setUp(ctx context.Context, cfg *Config) (_ *env, err error) {
	e := &env{cfg: cfg, kr: &keyring{}, dbKind: "sqlite"}
	rand.Read(e.kr.seed[:])
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		if e.tmpDir, err = os.MkdirTemp("", "sapient-bench-*"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		dbURL = filepath.Join(e.tmpDir, "bench.db")
	}
	if store.IsPostgres(dbURL) {
		e.dbKind = "postgres"
	}
	kek := cfg.KEK
	if kek == nil {
		secret := cfg.SecretKey
		if secret == "" {
			secret = rand.Text() + rand.Text()
		}
		if kek, err = keys.NewKEK(secret); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}

	// Provision on a store of its own, closed before the server starts,
	// so that the server starts as it would after a restart.
	st, err := store.OpenMigrated(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("bench: open database: %w", err)
	}
	if e.tmpDir == "" {
		if err := checkEmpty(ctx, st); err != nil {
			st.Close()
			return nil, err
		}
	}
	e.prov, err = provision(ctx, st, e.kr, cfg.Credentials, randomRunID(), e.status())
	if err == nil && cfg.UsedThisHour {
		e.used, err = useThisHour(ctx, st, e.kr, e.prov.orgs, cfg.Credentials, e.status())
	}
	st.Close()
	if err != nil {
		return nil, err
	}
	if e.prov.path == "bulk" {
		// The import carries the time it started. Each instance re-reads
		// credentials changed in the last five seconds on every poll; let
		// that window pass so that it does not re-read the import at the
		// start of the first scenario.
		if d := time.Until(time.Now().Add(-e.prov.took).Add(6 * time.Second)); d > 0 {
			time.Sleep(d)
		}
	}

	// Start as serve does: open and migrate, server.New, listen; ready
	// when /readyz answers 200. The port is chosen first, as the issuer
	// names it; should another socket take it meanwhile, start again.
	var t0 time.Time
	for attempt := 1; ; attempt++ {
		t0 = time.Now()
		listening, err := e.start(ctx, kek, dbURL)
		if err == nil {
			break
		}
		if listening || attempt == 3 {
			return nil, err
		}
		e.stopServer()
	}
	if err := e.waitReady(ctx); err != nil {
		return nil, err
	}
	e.ready = time.Since(t0)
	// The server serves while it reads every credential into memory;
	// measure once it has, as a server that has run a while would be.
	select {
	case <-e.srv.Preloaded():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e.loaded = time.Since(t0)
	if err := e.learn(); err != nil {
		return nil, err
	}
	return e, nil
}

// start opens the database and starts the server on a free loopback
// port. It reports whether the server got as far as listening.
func (e *env) start(ctx context.Context, kek *keys.KEK, dbURL string) (listening bool, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false, fmt.Errorf("bench: %w", err)
	}
	e.addr = ln.Addr().String()
	ln.Close()
	if e.st, err = store.OpenMigrated(ctx, dbURL); err != nil {
		return true, fmt.Errorf("bench: open database: %w", err)
	}
	// The per-credential rate limits stay on the path (their cost is
	// measured) but far above what the load offers.
	e.srv, err = server.New(ctx, server.Config{Store: e.st, KEK: kek, Logger: e.cfg.Logger, Issuer: "http://" + e.addr,
		TokenRateLimit: 1 << 30, APIRateLimit: 1 << 30})
	if err != nil {
		return true, fmt.Errorf("bench: start server: %w", err)
	}
	srvCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stop, e.stopped = stop, make(chan error, 1)
	up := make(chan struct{})
	go func() {
		e.stopped <- server.ListenAndServe(srvCtx, e.addr, e.srv.Handler(), func(net.Addr) { close(up) }, e.srv.Drain)
	}()
	select {
	case <-up:
		return true, nil
	case err := <-e.stopped:
		e.stopped <- err // for close
		return false, fmt.Errorf("bench: start server: %w", err)
	}
}

// waitReady polls /readyz until it answers 200, for at most 30 seconds.
func (e *env) waitReady(ctx context.Context) error {
	req := []byte("GET /readyz HTTP/1.1\r\nHost: " + e.addr + "\r\n\r\n")
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _, err := get(e.addr, req)
		if err == nil && status == 200 {
			return nil
		}
		select {
		case err := <-e.stopped:
			e.stopped <- err
			return fmt.Errorf("bench: server stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: server not ready after 30s (last: status %d, %v)", status, err)
		}
	}
}

// learn makes one token request and one /api/v1/me call, checks they
// succeed, and keeps the sizes of their answers for the floors.
func (e *env) learn() error {
	tok, n, err := e.issue(0)
	if err != nil {
		return err
	}
	e.tokenBodyLen = n
	status, body, err := get(e.addr, e.meRequest(tok))
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("bench: /api/v1/me answered %d: %s", status, body)
	}
	e.meBodyLen = len(body)
	dot := strings.LastIndexByte(tok, '.')
	e.signingInput = tok[:dot]
	hdr, err := decodeSegment(tok[:strings.IndexByte(tok, '.')])
	if err != nil {
		return err
	}
	var h struct {
		Kid string `json:"kid"`
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hdr, &h); err != nil || h.Alg != "ES256" {
		return fmt.Errorf("bench: access tokens are not ES256 (header %s)", hdr)
	}
	e.kid = h.Kid
	return nil
}

// issue obtains a token for credential i through the token endpoint and
// returns it with the size of the answer.
func (e *env) issue(i int) (string, int, error) {
	req := e.tokenRequest(nil, i)
	status, body, err := get(e.addr, req)
	if err != nil {
		return "", 0, err
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
		return "", 0, fmt.Errorf("bench: token endpoint answered %d: %s", status, body)
	}
	return out.AccessToken, len(body), nil
}

// workerTokens gets one token per client, each for a different credential
// where there are enough, as real clients would.
func (e *env) workerTokens() ([]string, error) {
	if e.tokens != nil {
		return e.tokens, nil
	}
	toks := make([]string, e.cfg.Concurrency)
	for w := range toks {
		t, _, err := e.issue(w * e.cfg.Credentials / e.cfg.Concurrency)
		if err != nil {
			return nil, err
		}
		toks[w] = t
	}
	e.tokens = toks
	return toks, nil
}

// tokenRequest appends a client_secret_basic token request for
// credential i to dst.
func (e *env) tokenRequest(dst []byte, i int) []byte {
	dst = append(dst, "POST /connect/token HTTP/1.1\r\nHost: "...)
	dst = append(dst, e.addr...)
	dst = append(dst, "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\nAuthorization: "...)
	dst = e.kr.appendBasic(dst, i)
	return append(dst, "\r\n\r\ngrant_type=client_credentials"...)
}

// meRequest is GET /api/v1/me with a bearer token.
func (e *env) meRequest(tok string) []byte {
	return []byte("GET /api/v1/me HTTP/1.1\r\nHost: " + e.addr + "\r\nAuthorization: Bearer " + tok + "\r\n\r\n")
}

func (e *env) status() status { return status{w: e.cfg.Progress, tty: e.cfg.ProgressTTY} }

// close stops the server and removes a temporary database.
func (e *env) close() {
	e.stopServer()
	if e.tmpDir != "" {
		os.RemoveAll(e.tmpDir)
	}
}

// stopServer stops the server and closes its database.
func (e *env) stopServer() {
	if e.stop != nil {
		e.stop()
		<-e.stopped
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.st != nil {
		e.st.Close()
	}
	e.stop, e.srv, e.st = nil, nil, nil
}

// startFloor serves h on a loopback port with the server's own settings
// (server.ListenAndServe) and returns its address and a function that
// stops it.
func startFloor(ctx context.Context, h http.Handler) (string, func(), error) {
	ready := make(chan net.Addr, 1)
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	errc := make(chan error, 1)
	go func() { errc <- server.ListenAndServe(fctx, "127.0.0.1:0", h, func(a net.Addr) { ready <- a }, nil) }()
	select {
	case a := <-ready:
		return a.String(), func() { cancel(); <-errc }, nil
	case err := <-errc:
		cancel()
		return "", nil, fmt.Errorf("bench: floor server: %w", err)
	}
}
