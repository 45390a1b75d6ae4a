// Package bearer protects your own Go HTTP APIs with Sapient's access
// tokens. It verifies the JWT (RFC 9068) locally against the issuer's
// published keys, so a request costs no call to Sapient:
//
//	v, err := bearer.New(ctx, bearer.Config{Issuer: "https://auth.example.com"})
//	mux.Handle("GET /shipments", v.Require(listShipments, "shipments:read"))
//
// and in the handler:
//
//	claims := bearer.FromContext(r.Context()) // client_id, scope, org_id, ...
//
// Local verification alone learns of a revoked credential only when its
// tokens expire (an hour by default). Set Config.FeedClientID and
// Config.FeedClientSecret (a credential holding sapient:verify) to follow
// Sapient's revocation feed: revocations then apply within a second, with
// no call per request. Config.IntrospectionClientID and
// Config.IntrospectionClientSecret (a credential holding
// sapient:introspect) instead ask Sapient (RFC 7662) on every request.
package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Config describes the issuer to trust.
type Config struct {
	// Issuer is Sapient's issuer URL, as in its discovery document.
	Issuer string
	// Audience is the aud tokens must carry; default: Issuer.
	Audience string
	// HTTPClient fetches discovery, keys and introspection; default
	// http.DefaultClient with a 10 second timeout.
	HTTPClient *http.Client
	// IntrospectionClientID and IntrospectionClientSecret, when set, make
	// every check also ask Sapient whether the token is still active.
	IntrospectionClientID     string
	IntrospectionClientSecret string
	// FeedClientID and FeedClientSecret, when set, name a credential
	// holding sapient:verify with which the Verifier follows Sapient's
	// revocation feed (GET /edge/revocations): it then refuses tokens of
	// revoked credentials, revoked tokens and tokens of retired keys
	// within a second of their revocation, and narrows a token's scope
	// to what its credential and organisation still allow, with no call
	// to Sapient per request. Call Close to stop following.
	FeedClientID     string
	FeedClientSecret string
	// ReportUsage, with the feed credential, reports the calls Require
	// accepted and refused to Sapient (POST /edge/usage) about once a
	// second, so that they count in API > Usage as proxied calls do.
	ReportUsage bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Claims are the claims of a verified access token.
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ExpiresAt int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf,omitempty"`
	JTI       string `json:"jti"`
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	OrgID     string `json:"org_id"`
}

// HasScope reports whether the token holds scope s.
func (c *Claims) HasScope(s string) bool {
	for _, f := range strings.Fields(c.Scope) {
		if f == s {
			return true
		}
	}
	return false
}

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("bearer: invalid token")

// ErrRevoked wraps the refusals of a token that the revocation feed said
// was revoked, or whose credential was; it wraps ErrInvalidToken.
var ErrRevoked = fmt.Errorf("%w: revoked", ErrInvalidToken)

const leeway = 30 * time.Second

// Bounds on what a Verifier reads from Sapient: every response body is
// read through one, and a longer one is an error rather than memory spent.
const (
	maxMetadataBytes      = 1 << 20  // the discovery document and the key set
	maxIntrospectionBytes = 64 << 10 // an RFC 7662 answer is a few hundred bytes
)

// When the key set is fetched again: when a token names a key not in it,
// at most every minRefetch whatever the outcome (so that tokens with
// made-up key IDs, or an issuer that is down, cost at most one fetch per
// interval), and in the background once it is older than maxKeyAge.
const (
	minRefetch   = 10 * time.Second
	maxKeyAge    = 5 * time.Minute
	fetchTimeout = 10 * time.Second // bounds a fetch that requests wait for
)

// Verifier checks access tokens of one issuer. It is safe for concurrent
// use.
type Verifier struct {
	cfg        Config
	jwksURI    string
	introspect string

	// fetches makes the requests that need the key set at the same time
	// share one fetch.
	fetches singleflight.Group

	// feed follows the revocation feed, and reports sends usage, when
	// configured.
	feed    *follower
	reports *reporter

	mu        sync.Mutex
	keys      map[string]jose.JSONWebKey
	fetchedAt time.Time // the key set's last successful fetch
	triedAt   time.Time // the last fetch begun, successful or not
}

// New reads the issuer's metadata (RFC 8414) and keys.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var meta struct {
		Issuer                string `json:"issuer"`
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	if err := getJSON(ctx, cfg.HTTPClient, cfg.Issuer+"/.well-known/oauth-authorization-server", &meta); err != nil {
		return nil, fmt.Errorf("bearer: metadata: %w", err)
	}
	if meta.Issuer != cfg.Issuer || meta.JWKSURI == "" { // RFC 8414 §3.3
		return nil, fmt.Errorf("bearer: metadata names issuer %q, want %q", meta.Issuer, cfg.Issuer)
	}
	v := &Verifier{cfg: cfg, jwksURI: meta.JWKSURI, introspect: meta.IntrospectionEndpoint, triedAt: cfg.Now()}
	if err := v.refresh(ctx); err != nil {
		return nil, err
	}
	if cfg.FeedClientID != "" {
		if err := v.startFeed(ctx, meta.TokenEndpoint); err != nil {
			return nil, err
		}
		if cfg.ReportUsage {
			v.startReports()
		}
	}
	return v, nil
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := readBody(resp.Body, maxMetadataBytes)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return json.Unmarshal(b, v)
}

// errTooLarge is a response body over its bound.
var errTooLarge = errors.New("bearer: response body too large")

// readBody reads all of r, failing with errTooLarge rather than reading
// more than limit bytes.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", errTooLarge, limit)
	}
	return b, nil
}

// refresh fetches the key set.
func (v *Verifier) refresh(ctx context.Context) error {
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, v.cfg.HTTPClient, v.jwksURI, &set); err != nil {
		return fmt.Errorf("bearer: keys: %w", err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if k.Use == "sig" || k.Use == "" {
			keys[k.KeyID] = k
		}
	}
	v.mu.Lock()
	v.keys, v.fetchedAt = keys, v.cfg.Now()
	v.mu.Unlock()
	return nil
}

// key returns the key with kid. A kid not in the key set makes the
// request wait for the set to be fetched again, unless it was fetched
// (or tried) less than minRefetch ago; a set older than maxKeyAge is
// fetched again in the background while the keys it holds are used.
// Requests that need a fetch at the same time share one.
func (v *Verifier) key(ctx context.Context, kid string) (jose.JSONWebKey, bool) {
	v.mu.Lock()
	k, ok := v.keys[kid]
	now := v.cfg.Now()
	stale := now.Sub(v.fetchedAt) >= maxKeyAge
	recent := now.Sub(v.triedAt) < minRefetch
	v.mu.Unlock()
	switch {
	case recent || (ok && !stale):
		return k, ok
	case ok:
		v.fetches.DoChan("keys", v.refetch) // in the background
		return k, ok
	}
	select {
	case <-v.fetches.DoChan("keys", v.refetch):
	case <-ctx.Done():
		return k, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	k, ok = v.keys[kid]
	return k, ok
}

// refetch fetches the key set unless a fetch began less than minRefetch
// ago (another caller's, just finished). It runs once for every caller
// waiting on it, so no caller's cancellation ends it; fetchTimeout does.
// triedAt moves only once the fetch is over, so that a request arriving
// meanwhile joins the fetch instead of finding it "recent" and going on
// without its result.
func (v *Verifier) refetch() (any, error) {
	v.mu.Lock()
	began := v.cfg.Now()
	recent := began.Sub(v.triedAt) < minRefetch
	v.mu.Unlock()
	if recent {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	err := v.refresh(ctx)
	v.mu.Lock()
	v.triedAt = began
	v.mu.Unlock()
	return nil, err
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

// Verify checks a raw access token and returns its claims.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	c, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// verify is Verify, but also returns the claims of a genuine token that
// was refused because it or its credential was revoked, so that the
// refusal can be reported for its credential.
func (v *Verifier) verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > 8192 {
		return nil, invalid("too long")
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("malformed")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, invalid("not an access token")
	}
	key, ok := v.key(ctx, h.KeyID)
	if !ok || key.Algorithm != h.Algorithm {
		return nil, invalid("unknown signing key")
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, invalid("bad signature")
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalid("malformed claims")
	}
	now := v.cfg.Now()
	switch {
	case c.Issuer != v.cfg.Issuer:
		return nil, invalid("wrong issuer")
	case c.Audience != v.cfg.Audience:
		return nil, invalid("wrong audience")
	case now.After(time.Unix(c.ExpiresAt, 0).Add(leeway)):
		return nil, invalid("expired")
	case c.NotBefore != 0 && now.Add(leeway).Before(time.Unix(c.NotBefore, 0)):
		return nil, invalid("not yet valid")
	}
	if v.feed != nil {
		if err := v.feed.state.check(&c, h.KeyID); err != nil {
			return &c, err
		}
	}
	if v.cfg.IntrospectionClientID != "" {
		if err := v.stillActive(ctx, raw); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// stillActive asks Sapient's introspection endpoint (RFC 7662).
func (v *Verifier) stillActive(ctx context.Context, raw string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.introspect, strings.NewReader(url.Values{"token": {raw}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(v.cfg.IntrospectionClientID), url.QueryEscape(v.cfg.IntrospectionClientSecret))
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("bearer: introspection: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bearer: introspection: %s", resp.Status)
	}
	b, err := readBody(resp.Body, maxIntrospectionBytes)
	if err != nil {
		return fmt.Errorf("bearer: introspection: %w", err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("bearer: introspection: %w", err)
	}
	if !out.Active {
		return invalid("revoked")
	}
	return nil
}

type ctxKey struct{}

// FromContext returns the claims of a request that Require let through.
func FromContext(ctx context.Context) *Claims {
	c, _ := ctx.Value(ctxKey{}).(*Claims)
	return c
}

// Require wraps next so that it runs only with a valid token in the
// Authorization header that holds every one of scopes; other requests are
// answered as RFC 6750 §3 says.
func (v *Verifier) Require(next http.Handler, scopes ...string) http.Handler {
	return v.RequireRoute("", next, scopes...)
}

// RequireRoute is Require for the calls of one route of your API: with
// Config.ReportUsage, each call is reported to Sapient under that name
// (letters, digits and ._:/-), accepted or refused with its reason, and
// shows in API > Usage by route.
func (v *Verifier) RequireRoute(route string, next http.Handler, scopes ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
			v.report("", route, "no_token")
			challenge(w, http.StatusUnauthorized, "invalid_token", "An access token is required.", "")
			return
		}
		c, err := v.verify(r.Context(), strings.TrimSpace(h[7:]))
		switch {
		case errors.Is(err, ErrRevoked):
			v.report(c.ClientID, route, "revoked")
			challenge(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid.", "")
			return
		case errors.Is(err, ErrInvalidToken):
			v.report("", route, "invalid_token")
			challenge(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid.", "")
			return
		case err != nil:
			http.Error(w, "token check unavailable", http.StatusServiceUnavailable)
			return
		}
		for _, s := range scopes {
			if !c.HasScope(s) {
				v.report(c.ClientID, route, "insufficient_scope")
				challenge(w, http.StatusForbidden, "insufficient_scope", "This call requires the scope "+s+".", strings.Join(scopes, " "))
				return
			}
		}
		v.report(c.ClientID, route, "accepted")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

func challenge(w http.ResponseWriter, status int, code, description, scope string) {
	v := `Bearer error="` + code + `", error_description="` + description + `"`
	if scope != "" {
		v += `, scope="` + scope + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
