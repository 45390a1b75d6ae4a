package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"sapient.dev/sapient/bearer"
	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
)

// feedCredentials is how many credentials the feed measurement revokes.
const feedCredentials = 200

// FeedResult is what the feed measurement found: a bearer.Verifier
// following GET /edge/revocations over HTTP while credentials are revoked
// one after another in the server, as fast as it can.
type FeedResult struct {
	Revocations int
	// Delivered is revocations per second, from the first revocation to
	// the last refusal in the verifier.
	Delivered float64
	// P50ms, P99ms and MaxMs are the time from a revocation's commit to the
	// verifier refusing its credential's token.
	P50ms, P99ms, MaxMs float64
	Errors              int // tokens still accepted when the measurement gave up
}

// measureFeed runs the feed measurement: the verifier polls each token
// every millisecond until it is refused.
func (e *env) measureFeed(ctx context.Context) (*FeedResult, error) {
	org := e.prov.orgs[0].ID
	stamp := time.Now().UnixNano()
	ver, err := e.srv.Credentials.Create(ctx, access.CLI, credential.CreateRequest{OrgID: org,
		Name: fmt.Sprintf("bench feed verifier %d", stamp), Scopes: []string{scope.Verify}})
	if err != nil {
		return nil, fmt.Errorf("bench: feed: %w", err)
	}
	v, err := bearer.New(ctx, bearer.Config{Issuer: e.srv.Issuer(), FeedClientID: ver.Credential.ClientID, FeedClientSecret: ver.Secret})
	if err != nil {
		return nil, fmt.Errorf("bench: feed: %w", err)
	}
	defer v.Close()
	creds := make([]credential.Created, feedCredentials)
	toks := make([]string, feedCredentials)
	for i := range creds {
		if creds[i], err = e.srv.Credentials.Create(ctx, access.CLI, credential.CreateRequest{OrgID: org,
			Name: fmt.Sprintf("bench feed %d %d", stamp, i)}); err != nil {
			return nil, fmt.Errorf("bench: feed: %w", err)
		}
		if toks[i], err = e.token(creds[i]); err != nil {
			return nil, err
		}
		if _, err := v.Verify(ctx, toks[i]); err != nil {
			return nil, fmt.Errorf("bench: feed: a fresh token is refused: %w", err)
		}
	}
	revokedAt := make([]time.Time, feedCredentials)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, c := range creds {
			if _, err := e.srv.Credentials.Revoke(ctx, access.CLI, c.Credential.ClientID); err != nil {
				return
			}
			revokedAt[i] = time.Now()
		}
	}()
	start := time.Now()
	refusedAt := make([]time.Time, feedCredentials)
	left := feedCredentials
	deadline := start.Add(30 * time.Second)
	for left > 0 && time.Now().Before(deadline) {
		for i, tok := range toks {
			if refusedAt[i].IsZero() {
				if _, err := v.Verify(ctx, tok); err != nil {
					refusedAt[i] = time.Now()
					left--
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	<-done
	res := &FeedResult{Revocations: feedCredentials, Errors: left}
	var lat []float64
	last := start
	for i := range toks {
		if refusedAt[i].IsZero() || revokedAt[i].IsZero() {
			continue
		}
		lat = append(lat, float64(refusedAt[i].Sub(revokedAt[i]))/float64(time.Millisecond))
		if refusedAt[i].After(last) {
			last = refusedAt[i]
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50ms, res.P99ms, res.MaxMs = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
		res.Delivered = float64(len(lat)) / last.Sub(start).Seconds()
	}
	return res, nil
}

// token obtains an access token for c from the server's handler.
func (e *env) token(c credential.Created) (string, error) {
	r := httptest.NewRequest(http.MethodPost, "/connect/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(c.Credential.ClientID, c.Secret)
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("bench: feed: token: %d %s", w.Code, w.Body)
	}
	return tok.AccessToken, nil
}
