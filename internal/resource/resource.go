// Package resource owns the operator's APIs that Sapient issues tokens for
// (RFC 8707 resource indicators): an Admin registers each by its URL, and
// a token request naming one as its resource gets it as the token's aud,
// so that a token meant for one API is refused by every other.
package resource

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// Sentinel errors.
var (
	ErrForbidden = errors.New("resource: only an Admin registers resources")
	ErrExists    = errors.New("resource: registered already")
)

// Validate checks a resource indicator: an absolute http or https URI with
// a host and no fragment (RFC 8707 §2), and no query (which §2 advises
// against), of at most 512 characters.
func Validate(uri string) error {
	if uri == "" || len(uri) > 512 {
		return errors.New("resource: give the API's URL, at most 512 characters (for example https://api.example.com)")
	}
	u, err := url.Parse(uri)
	switch {
	case err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("resource: %q is not an absolute http or https URL", uri)
	case u.Fragment != "" || strings.Contains(uri, "#"):
		return fmt.Errorf("resource: %q has a fragment, which a resource may not have (RFC 8707 §2)", uri)
	case u.RawQuery != "" || strings.Contains(uri, "?"):
		return fmt.Errorf("resource: %q has a query; name the API by its URL alone", uri)
	case u.User != nil:
		return fmt.Errorf("resource: %q holds a user name or password", uri)
	}
	return nil
}

// Register records a resource, with its audit event, for an Admin.
func Register(ctx context.Context, s store.Store, actor access.Actor, uri, description string, now time.Time) (store.Resource, error) {
	if !actor.IsAdmin() {
		return store.Resource{}, ErrForbidden
	}
	if err := Validate(uri); err != nil {
		return store.Resource{}, err
	}
	r := store.Resource{URI: uri, Description: strings.TrimSpace(description), CreatedAt: now.UTC().Truncate(time.Microsecond)}
	err := s.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateResource(ctx, r); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.ResourceRegistered, "", uri, "resource registered for tokens' aud", now)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return store.Resource{}, fmt.Errorf("%w: %s", ErrExists, uri)
	} else if err != nil {
		return store.Resource{}, fmt.Errorf("resource: register: %w", err)
	}
	return r, nil
}

// Set is an instance's view of the registered resources, in memory: the
// token endpoint and the check read it on every request that names one.
type Set struct {
	mu   sync.RWMutex
	uris map[string]bool
}

// Has reports whether uri is registered.
func (s *Set) Has(uri string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.uris[uri]
}

// Load reads the registered resources; instances call it at start and
// when the change log names a resource.
func (s *Set) Load(ctx context.Context, st store.Resources) error {
	list, err := st.ListResources(ctx)
	if err != nil {
		return fmt.Errorf("resource: load: %w", err)
	}
	uris := make(map[string]bool, len(list))
	for _, r := range list {
		uris[r.URI] = true
	}
	s.mu.Lock()
	s.uris = uris
	s.mu.Unlock()
	return nil
}
