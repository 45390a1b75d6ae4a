// Package leak takes reports of Sapient secrets found where others can
// read them: POST /leaks, where anyone reports them, and POST
// /leaks/github, where GitHub's secret scanning partner program sends the
// secrets it finds in public repositories. Each secret that works is
// stopped at once by credential.Service.ReportLeaked; the handlers only
// bound, check and translate.
package leak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/ratelimit"
)

// Bounds on one report.
const (
	// MaxBodyBytes bounds the body of POST /leaks and POST /leaks/github.
	MaxBodyBytes = 1 << 20
	// MaxSecrets is the most secrets one POST /leaks may report.
	MaxSecrets = 100
	// DefaultRate is how many reports a second one client address may
	// send to POST /leaks (with a burst as large), unless configured.
	DefaultRate = 2
)

// Reporter stops leaked secrets; credential.Service is one.
type Reporter interface {
	ReportLeaked(ctx context.Context, actor access.Actor, rep credential.LeakReport) ([]credential.LeakOutcome, error)
}

// Handler is POST /leaks: JSON {"secrets": ["sapsk_..."], "url": "..."}.
// It answers 202 with the same body whatever the secrets were, so that
// the answer tells no one whether a secret was valid.
type Handler struct {
	Reporter Reporter
	ClientIP *clientip.Resolver
	// Limiter limits reports per client address, at Rate a second (zero:
	// DefaultRate; negative: unlimited).
	Limiter ratelimit.Allower
	Rate    int
	Logger  *slog.Logger
	Now     func() time.Time

	mu     sync.Mutex
	pruned time.Time // when Limiter last forgot idle addresses
}

// Report is the body of POST /leaks.
type Report struct {
	Secrets []string `json:"secrets"`
	URL     string   `json:"url"`
}

// Received is the body of the answer to every accepted report.
type Received struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// received is that answer, the same for every report.
func received() Received {
	return Received{Status: "received", Message: "Thank you. Every working Sapient secret in the report is stopped now and its owner told."}
}

// ServeHTTP takes one report.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ip := h.ClientIP.IP(r)
	rate := h.Rate
	if rate == 0 {
		rate = DefaultRate
	}
	now := h.Now()
	h.prune(now)
	if ok, wait := h.Limiter.Allow("leaks:"+ip.String(), rate, now); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(ratelimit.RetryAfter(wait)))
		problem(w, r, http.StatusTooManyRequests, "Too many reports", "This address sent too many reports; try again after Retry-After seconds.")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var rep Report
	if msg := decodeStrict(body, &rep); msg != "" {
		problem(w, r, http.StatusBadRequest, "Invalid report", msg+` Send {"secrets": ["sapsk_..."], "url": "where they were found"}.`)
		return
	}
	switch {
	case len(rep.Secrets) == 0:
		problem(w, r, http.StatusBadRequest, "Invalid report", `"secrets" must list at least one secret.`)
		return
	case len(rep.Secrets) > MaxSecrets:
		problem(w, r, http.StatusBadRequest, "Invalid report",
			fmt.Sprintf(`"secrets" lists %d secrets; a report holds at most %d, so send several reports. Nothing was done with this one.`, len(rep.Secrets), MaxSecrets))
		return
	}
	actor := credential.LeakReporter(ip.String(), credential.LeakSourceReport)
	actor.UserAgent = r.UserAgent()
	if _, err := h.Reporter.ReportLeaked(r.Context(), actor,
		credential.LeakReport{Secrets: rep.Secrets, URL: rep.URL, Source: credential.LeakSourceReport}); err != nil {
		h.Logger.ErrorContext(r.Context(), "leak: report", "err", err)
		problem(w, r, http.StatusServiceUnavailable, "Try again", "The report could not be handled now; send it again shortly.")
		return
	}
	writeJSON(w, http.StatusAccepted, received())
}

// prune makes Limiter forget idle addresses, once a minute.
func (h *Handler) prune(now time.Time) {
	h.mu.Lock()
	due := now.Sub(h.pruned) >= time.Minute
	if due {
		h.pruned = now
	}
	h.mu.Unlock()
	if due {
		h.Limiter.Prune(now.Add(-ratelimit.FullAfter))
	}
}

// readBody reads a body of at most MaxBodyBytes, or answers 413.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	tooLarge := func() ([]byte, bool) {
		problem(w, r, http.StatusRequestEntityTooLarge, "Report too large", fmt.Sprintf("A report is at most %d bytes.", MaxBodyBytes))
		return nil, false
	}
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge()
	} else if err != nil {
		problem(w, r, http.StatusBadRequest, "Invalid report", "The body could not be read.")
		return nil, false
	}
	return body, true
}

// decodeStrict decodes one JSON value with no unknown fields into v, or
// says what is wrong.
func decodeStrict(body []byte, v any) string { return decodeJSON(body, v, true) }

// decodeJSON decodes one JSON value into v, or says what is wrong.
func decodeJSON(body []byte, v any, strict bool) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return fmt.Sprintf("%q has the wrong type (%s).", typ.Field, typ.Value)
		}
		return "The body is not the JSON expected."
	}
	if dec.More() {
		return "The body must hold one JSON value."
	}
	return ""
}

// problem answers with an RFC 9457 problem details object.
func problem(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": r.URL.Path})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
