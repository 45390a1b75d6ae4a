package leak

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
)

// GitHub's headers on a secret scanning alert (GitHub, "Secret scanning
// partner program": implement signature verification).
const (
	HeaderKeyID     = "Github-Public-Key-Identifier"
	HeaderSignature = "Github-Public-Key-Signature"
)

// ReplayWindow is how long a signature is remembered: the same signed
// body again within it is answered as before and changes nothing more.
const ReplayWindow = time.Hour

// maxReplays bounds the signatures remembered.
const maxReplays = 1000

// maxAlerts bounds the matches of one alert.
const maxAlerts = 1000

// Alert is one match in a secret scanning alert: GitHub sends a JSON
// array of them.
type Alert struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// Label is GitHub's answer format for one match: whether the token is a
// real secret of ours. token_hash is the hex SHA-256 of the token, so the
// secret is not sent back.
type Label struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"` // "true_positive" or "false_positive"
}

// GitHubHandler is POST /leaks/github: alerts from GitHub's secret
// scanning partner program, signed with ECDSA P-256 and SHA-256 by a key
// published at Keys' URL. The signature is checked before anything else;
// every matching secret is then reported leaked as by POST /leaks, with
// the URL of the alert. The answer labels each match true_positive (a
// secret some credential has or had) or false_positive.
type GitHubHandler struct {
	Reporter Reporter
	Keys     *Keys
	ClientIP *clientip.Resolver
	Logger   *slog.Logger
	Now      func() time.Time

	mu   sync.Mutex
	seen map[[sha256.Size]byte]replay
}

type replay struct {
	at     time.Time
	labels []Label
}

// ServeHTTP takes one alert.
func (h *GitHubHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	keyID, sig64 := r.Header.Get(HeaderKeyID), r.Header.Get(HeaderSignature)
	if keyID == "" || sig64 == "" {
		problem(w, r, http.StatusBadRequest, "Unsigned alert",
			fmt.Sprintf("An alert carries the headers %s and %s.", HeaderKeyID, HeaderSignature))
		return
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) > 256 || len(keyID) > 256 {
		problem(w, r, http.StatusBadRequest, "Bad signature", HeaderSignature+" must be a base64 ASN.1 ECDSA signature.")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	key, err := h.Keys.Key(r.Context(), keyID)
	switch {
	case errors.Is(err, ErrUnknownKey):
		problem(w, r, http.StatusUnauthorized, "Unknown key", "No public key of GitHub's secret scanning has this "+HeaderKeyID+".")
		return
	case err != nil:
		h.Logger.ErrorContext(r.Context(), "leak: GitHub keys", "err", err)
		problem(w, r, http.StatusServiceUnavailable, "Try again", "GitHub's public keys could not be read; send the alert again shortly.")
		return
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		problem(w, r, http.StatusUnauthorized, "Bad signature", "The signature does not match the body and key.")
		return
	}
	seenKey := sha256.Sum256(sig)
	if labels, ok := h.replayed(seenKey); ok {
		writeJSON(w, http.StatusOK, labels)
		return
	}
	var alerts []Alert
	if msg := decodeStrictLoose(body, &alerts); msg != "" {
		problem(w, r, http.StatusBadRequest, "Invalid alert", msg+` An alert is a JSON array of {"token", "type", "url", "source"}.`)
		return
	}
	if len(alerts) > maxAlerts {
		problem(w, r, http.StatusBadRequest, "Invalid alert", fmt.Sprintf("An alert holds at most %d matches.", maxAlerts))
		return
	}
	labels := make([]Label, len(alerts))
	ip := h.ClientIP.IP(r).String()
	// One report per URL, as each names where its secrets were found.
	byURL := map[string][]int{}
	var urls []string
	for i, a := range alerts {
		sum := sha256.Sum256([]byte(a.Token))
		labels[i] = Label{TokenHash: hex.EncodeToString(sum[:]), TokenType: a.Type, Label: "false_positive"}
		if credential.CheckSecretFormat(a.Token) != nil {
			continue
		}
		if _, ok := byURL[a.URL]; !ok {
			urls = append(urls, a.URL)
		}
		byURL[a.URL] = append(byURL[a.URL], i)
	}
	actor := credential.LeakReporter(ip, credential.LeakSourceGitHub)
	actor.UserAgent = r.UserAgent()
	for _, url := range urls {
		idx := byURL[url]
		secrets := make([]string, len(idx))
		for j, i := range idx {
			secrets[j] = alerts[i].Token
		}
		out, err := h.Reporter.ReportLeaked(r.Context(), actor, credential.LeakReport{Secrets: secrets, URL: url, Source: credential.LeakSourceGitHub})
		if err != nil {
			h.Logger.ErrorContext(r.Context(), "leak: GitHub alert", "err", err)
			problem(w, r, http.StatusServiceUnavailable, "Try again", "The alert could not be handled now; send it again shortly.")
			return
		}
		for j, i := range idx {
			if out[j] != credential.LeakUnknown {
				labels[i].Label = "true_positive"
			}
		}
	}
	h.remember(seenKey, labels)
	writeJSON(w, http.StatusOK, labels)
}

// replayed returns the labels answered to the signature remembered as
// key within ReplayWindow.
func (h *GitHubHandler) replayed(key [sha256.Size]byte) ([]Label, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.seen[key]
	if !ok || h.Now().Sub(r.at) >= ReplayWindow {
		return nil, false
	}
	return r.labels, true
}

// remember keeps the labels answered to the signature key, forgetting
// those older than ReplayWindow, and, past maxReplays, the oldest.
func (h *GitHubHandler) remember(key [sha256.Size]byte, labels []Label) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.Now()
	if h.seen == nil {
		h.seen = map[[sha256.Size]byte]replay{}
	}
	if len(h.seen) >= maxReplays {
		var oldest [sha256.Size]byte
		var at time.Time
		for k, r := range h.seen {
			if now.Sub(r.at) >= ReplayWindow {
				delete(h.seen, k)
			} else if at.IsZero() || r.at.Before(at) {
				oldest, at = k, r.at
			}
		}
		if len(h.seen) >= maxReplays {
			delete(h.seen, oldest)
		}
	}
	h.seen[key] = replay{at: now, labels: labels}
}

// decodeStrictLoose decodes GitHub's alert: unknown fields are allowed,
// since GitHub may add some.
func decodeStrictLoose(body []byte, v any) string {
	if strings.TrimSpace(string(body)) == "" {
		return "The body is empty."
	}
	return decodeJSON(body, v, false)
}
