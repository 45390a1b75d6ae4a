package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"sapient.dev/sapient/internal/credential"
)

// maxFormBytes bounds every form body the OAuth endpoints read.
const maxFormBytes = 16 << 10

// authError is a failed client authentication or a malformed request,
// answered with its RFC 6749 §5.2 code.
type authError struct{ code, description string }

// parseForm reads a POST body of type application/x-www-form-urlencoded
// (RFC 6749 §3.2) with a size limit, and refuses repeated parameters
// (§3.1: parameters must not be included more than once).
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, *authError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &authError{ErrInvalidRequest, "The request must use POST."}
	}
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return nil, &authError{ErrInvalidRequest, "The body must be application/x-www-form-urlencoded."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &authError{ErrInvalidRequest, "The request body is too large."}
		}
		return nil, &authError{ErrInvalidRequest, "The request body is not a valid form."}
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && k == "resource" {
			// RFC 8707 §2 allows several; a token here is for one API.
			return nil, &authError{ErrInvalidTarget, "A token is issued for one resource at a time: send resource once."}
		}
		if len(v) > 1 {
			return nil, &authError{ErrInvalidRequest, "Parameter " + k + " is repeated."}
		}
	}
	return r.PostForm, nil
}

// clientCredentials extracts the client ID and secret by
// client_secret_basic or client_secret_post (RFC 6749 §2.3.1). §2.3 allows
// one method per request: an Authorization header of any kind (even one
// that does not parse) beside a secret in the body is invalid_request, as
// is a body client_id that differs from the Basic one. A malformed or
// non-Basic Authorization header alone is invalid_client.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, aerr *authError) {
	authz := r.Header.Values("Authorization")
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	switch {
	case len(authz) > 1:
		return "", "", &authError{ErrInvalidRequest, "Send one Authorization header."}
	case len(authz) == 1 && postSecret != "":
		return "", "", &authError{ErrInvalidRequest, "Use one client authentication method, not both."}
	case len(authz) == 1:
		basicID, basicSecret, ok := basicAuth(authz[0])
		switch {
		case !ok:
			return "", "", &authError{ErrInvalidClient, "Unsupported or malformed Authorization header."}
		case postID != "" && postID != basicID:
			return "", "", &authError{ErrInvalidRequest, "client_id in the body differs from the Authorization header."}
		}
		return basicID, basicSecret, nil
	case postID != "" && postSecret != "":
		return postID, postSecret, nil
	default:
		return "", "", &authError{ErrInvalidClient, "Client authentication is required."}
	}
}

// basicAuth decodes a client_secret_basic Authorization header: the ID and
// secret are each form-urlencoded before they are joined and
// base64-encoded (§2.3.1). ok is false unless all of that holds and the ID
// is not empty.
func basicAuth(h string) (id, secret string, ok bool) {
	const prefix = "basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", false
	}
	return id, secret, id != ""
}

// dummy is checked when the client ID is unknown, so that an unknown
// client costs the same work as a wrong secret.
var dummy = &credential.Entry{Hash: credential.HashSecret("sapient-dummy-secret")}

// authenticate checks a client ID and secret against the cache. It
// returns the credential found for the ID (nil if unknown), and whether
// the secret is right and the credential active. Unknown client, wrong
// secret, revoked and expired credentials all cost the same work and give
// the same invalid_client answer. A secret whose format or checksum is
// wrong (a typo) is refused before it is hashed; its credential is still
// returned when this instance holds it in memory, so that the refusal is
// counted, but it costs no database read.
func authenticate(ctx context.Context, cache *credential.Cache, id, secret string, now time.Time) (*credential.Entry, bool, error) {
	if credential.CheckSecretFormat(secret) != nil {
		e, _ := cache.Peek(id)
		return e, false, nil
	}
	presented := credential.HashSecret(secret)
	e, err := cache.Lookup(ctx, id, now)
	if errors.Is(err, credential.ErrNotFound) {
		dummy.CheckSecret(presented, now)
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	return e, e.CheckSecret(presented, now) && e.Active(now), nil
}

// errClientAuth is the one answer to a failed client authentication.
var errClientAuth = &authError{ErrInvalidClient, "Client authentication failed."}

// errNotFromHere answers a credential used from an address outside its
// allow-list, whether or not the secret was right.
var errNotFromHere = &authError{ErrUnauthorizedClient, "This credential may not be used from this address."}

// clientAuth is what the endpoints a client authenticates at (token,
// introspection, revocation) share: the cache and the budget of failures
// per address.
type clientAuth struct {
	cache    *credential.Cache
	failures *FailureLimiter
}

// check authenticates the client of a request whose form has been read,
// calling from ip. On failure it returns the answer, and the credential
// named when this instance knows it (so that the refusal can be counted
// against it); err is a failure of the store. Every failure spends the
// address's budget (FailureLimiter).
//
// An active credential used from outside its IP allow-list is refused
// with unauthorized_client whether or not the secret is right, at every
// endpoint, so that no answer there tells a guesser anything about the
// secret; the same work is done either way. A revoked or expired one is
// invalid_client from anywhere, like an unknown one.
func (a clientAuth) check(r *http.Request, form url.Values, ip netip.Addr, now time.Time) (*credential.Entry, *authError, error) {
	id, secret, aerr := clientCredentials(r, form)
	if aerr != nil {
		a.failures.Fail(ip, now)
		return nil, aerr, nil
	}
	e, ok, err := authenticate(r.Context(), a.cache, id, secret, now)
	switch {
	case err != nil:
		return nil, nil, err
	case e != nil && e.Active(now) && !e.AllowedFrom(ip):
		aerr = errNotFromHere
	case !ok:
		aerr = errClientAuth
	default:
		return e, nil, nil
	}
	a.failures.Fail(ip, now)
	return e, aerr, nil
}

// authenticatedClient reads the form of an endpoint that a client calls
// with its own credentials (introspection, revocation) and authenticates
// it. On failure it has answered already and returns ok false; caller is
// then the credential named, if this instance knows it, for usage
// counting.
func (a clientAuth) authenticatedClient(w http.ResponseWriter, r *http.Request, ip netip.Addr, log *slog.Logger, now time.Time) (form url.Values, caller *credential.Entry, ok bool) {
	if wait, ok := a.failures.Allow(ip, now); !ok {
		writeTooManyFailures(w, wait)
		return nil, nil, false
	}
	if refuseLargeBody(w, r) {
		return nil, nil, false
	}
	form, aerr := parseForm(w, r)
	if aerr == nil {
		var err error
		if caller, aerr, err = a.check(r, form, ip, now); err != nil {
			log.ErrorContext(r.Context(), "oauth: credential lookup failed", "path", r.URL.Path, "err", err)
			aerr = &authError{ErrServerError, "Temporary failure; try again."}
		}
	}
	if aerr != nil {
		writeError(w, aerr.code, aerr.description)
		return nil, caller, false
	}
	return form, caller, true
}
