package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
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
		if len(v) > 1 {
			return nil, &authError{ErrInvalidRequest, "Parameter " + k + " is repeated."}
		}
	}
	return r.PostForm, nil
}

// clientCredentials extracts the client ID and secret by
// client_secret_basic or client_secret_post (RFC 6749 §2.3.1). Using both
// methods at once is invalid_request; so is a body client_id that differs
// from the Basic one.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, aerr *authError) {
	basicID, basicSecret, hasBasic := basicAuth(r)
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	switch {
	case hasBasic && postSecret != "":
		return "", "", &authError{ErrInvalidRequest, "Use one client authentication method, not both."}
	case hasBasic && postID != "" && postID != basicID:
		return "", "", &authError{ErrInvalidRequest, "client_id in the body differs from the Authorization header."}
	case hasBasic:
		return basicID, basicSecret, nil
	case postID != "" && postSecret != "":
		return postID, postSecret, nil
	case r.Header.Get("Authorization") != "":
		return "", "", &authError{ErrInvalidClient, "Unsupported or malformed Authorization header."}
	default:
		return "", "", &authError{ErrInvalidClient, "Client authentication is required."}
	}
}

// basicAuth decodes client_secret_basic: the ID and secret are each
// form-urlencoded before they are joined and base64-encoded (§2.3.1).
func basicAuth(r *http.Request) (id, secret string, ok bool) {
	h := r.Header.Get("Authorization")
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
// the same invalid_client answer.
func authenticate(ctx context.Context, cache *credential.Cache, id, secret string, now time.Time) (*credential.Entry, bool, error) {
	if credential.CheckSecretFormat(secret) != nil {
		return nil, false, nil // refused before any lookup
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

// authenticatedClient reads the form of an endpoint that a client calls
// with its own credentials (introspection, revocation) and authenticates
// it. On failure it has answered already and returns ok false; caller is
// then the credential named, if it exists, for usage counting.
func authenticatedClient(w http.ResponseWriter, r *http.Request, cache *credential.Cache, log *slog.Logger, now time.Time) (form url.Values, caller *credential.Entry, ok bool) {
	form, aerr := parseForm(w, r)
	if aerr == nil {
		var id, secret string
		if id, secret, aerr = clientCredentials(r, form); aerr == nil {
			var err error
			caller, ok, err = authenticate(r.Context(), cache, id, secret, now)
			switch {
			case err != nil:
				log.ErrorContext(r.Context(), "oauth: credential lookup failed", "path", r.URL.Path, "err", err)
				aerr = &authError{ErrServerError, "Temporary failure; try again."}
			case !ok:
				aerr = errClientAuth
			}
		}
	}
	if aerr != nil {
		writeError(w, aerr.code, aerr.description)
		return nil, caller, false
	}
	return form, caller, true
}
