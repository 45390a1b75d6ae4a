package bearer

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// maxFeedBytes bounds one page of the revocation feed (at most a thousand
// entries of a few hundred bytes).
const maxFeedBytes = 4 << 20

// Backoff bounds between tries while Sapient cannot be reached.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
	// feedTimeout bounds one long poll; Sapient answers within 25 s.
	feedTimeout = 60 * time.Second
)

// feedEntry is one entry of GET /edge/revocations.
type feedEntry struct {
	Type      string     `json:"type"`
	ClientID  string     `json:"client_id"`
	OrgID     string     `json:"org_id"`
	Scopes    []string   `json:"scopes"`
	Revoked   bool       `json:"revoked"`
	JTI       string     `json:"jti"`
	ExpiresAt *time.Time `json:"expires_at"`
	KID       string     `json:"kid"`
}

// revocations is what the feed has told: the state a token is checked
// against after its signature and claims.
type revocations struct {
	mu          sync.RWMutex
	cursor      string
	credentials map[string]credentialState // by client ID
	orgs        map[string][]string        // organisation grants
	tokens      map[string]time.Time       // revoked token IDs, until they expire
	keys        map[string]bool            // retired key IDs
}

type credentialState struct {
	revoked bool
	scopes  []string
}

func newRevocations() *revocations {
	return &revocations{credentials: map[string]credentialState{}, orgs: map[string][]string{},
		tokens: map[string]time.Time{}, keys: map[string]bool{}}
}

// apply records a page of entries and the cursor after them, forgetting
// revoked tokens that expired before now.
func (s *revocations) apply(entries []feedEntry, cursor string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		switch e.Type {
		case "credential":
			s.credentials[e.ClientID] = credentialState{revoked: e.Revoked, scopes: e.Scopes}
		case "organization":
			s.orgs[e.OrgID] = e.Scopes
		case "token":
			if e.ExpiresAt != nil {
				s.tokens[e.JTI] = *e.ExpiresAt
			}
		case "key":
			s.keys[e.KID] = true
		}
	}
	for jti, exp := range s.tokens {
		if now.After(exp.Add(leeway)) {
			delete(s.tokens, jti)
		}
	}
	s.cursor = cursor
}

// check refuses a token the feed has revoked, and narrows its scope to
// what its credential still holds and its organisation still grants (the
// reserved sapient:* scopes are an Admin's to give credential by
// credential, whatever the grant).
func (s *revocations) check(c *Claims, kid string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cred, knownCred := s.credentials[c.ClientID]
	grant, knownOrg := s.orgs[c.OrgID]
	switch {
	case s.keys[kid]:
		return invalid("signing key retired")
	case cred.revoked:
		return fmt.Errorf("%w: credential revoked", ErrRevoked)
	}
	if _, ok := s.tokens[c.JTI]; ok {
		return fmt.Errorf("%w: token revoked", ErrRevoked)
	}
	if !knownCred && !knownOrg {
		return nil
	}
	var kept []string
	for _, sc := range strings.Fields(c.Scope) {
		if knownCred && !contains(cred.scopes, sc) {
			continue
		}
		if knownOrg && !strings.HasPrefix(sc, "sapient:") && !contains(grant, sc) {
			continue
		}
		kept = append(kept, sc)
	}
	c.Scope = strings.Join(kept, " ")
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// follower reads the revocation feed, one request at a time.
type follower struct {
	url    string
	client *http.Client // authenticates as the feed credential
	state  *revocations
	now    func() time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

// startFeed reads the feed from its start, then follows it in the
// background until Close.
func (v *Verifier) startFeed(ctx context.Context, tokenURL string) error {
	// Long polls outlast the client's usual timeout: each has its own.
	base := *v.cfg.HTTPClient
	base.Timeout = 0
	cc := clientcredentials.Config{ClientID: v.cfg.FeedClientID, ClientSecret: v.cfg.FeedClientSecret, TokenURL: tokenURL,
		AuthStyle: oauth2.AuthStyleInHeader}
	f := &follower{
		url:    v.cfg.Issuer + "/edge/revocations",
		client: cc.Client(context.WithValue(context.Background(), oauth2.HTTPClient, &base)),
		state:  newRevocations(),
		now:    v.cfg.Now,
		done:   make(chan struct{}),
	}
	// The first read says whether the credential works at all.
	if err := f.read(ctx); err != nil {
		return fmt.Errorf("bearer: revocation feed: %w", err)
	}
	var runCtx context.Context
	runCtx, f.cancel = context.WithCancel(context.Background())
	go f.run(runCtx)
	v.feed = f
	return nil
}

// run follows the feed until ctx ends. While Sapient cannot be reached it
// keeps what it knew and tries again, after a wait that doubles up to
// maxBackoff.
func (f *follower) run(ctx context.Context) {
	defer close(f.done)
	wait := minBackoff
	for ctx.Err() == nil {
		if err := f.read(ctx); err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait/2 + rand.N(wait/2+1)):
			}
			wait = min(2*wait, maxBackoff)
			continue
		}
		wait = minBackoff
	}
}

// read asks for one page after the cursor (a long poll) and applies it.
func (f *follower) read(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, feedTimeout)
	defer cancel()
	f.state.mu.RLock()
	u := f.url
	if f.state.cursor != "" {
		u += "?after=" + url.QueryEscape(f.state.cursor)
	}
	f.state.mu.RUnlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := readBody(resp.Body, maxFeedBytes)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.200s", f.url, resp.Status, b)
	}
	var page struct {
		Entries []feedEntry `json:"entries"`
		Cursor  string      `json:"cursor"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return fmt.Errorf("GET %s: %w", f.url, err)
	}
	f.state.apply(page.Entries, page.Cursor, f.now())
	return nil
}

// Close stops following the revocation feed. The Verifier keeps checking
// tokens against what it last knew.
func (v *Verifier) Close() error {
	if v.reports != nil {
		v.reports.stopOnce.Do(func() { close(v.reports.stop) })
		<-v.reports.done
	}
	if v.feed != nil && v.feed.cancel != nil {
		v.feed.cancel()
		<-v.feed.done
	}
	return nil
}
