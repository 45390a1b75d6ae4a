package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/usage"
)

// Bounds on one usage report.
const (
	maxReportBytes   = 1 << 20
	maxReportEntries = 10_000
	maxReportCalls   = 1_000_000 // in one entry
)

// Report is the body of POST /edge/usage: the calls a local verifier (the
// bearer package) accepted and refused since its last report, counted by
// credential, route and outcome.
type Report struct {
	Calls []ReportedCalls `json:"calls"`
}

// ReportedCalls is Count calls of one credential (empty when the verifier
// could not identify it) to one route, with one outcome: "accepted" or a
// refusal's reason (see usage.RefusalReasons).
type ReportedCalls struct {
	ClientID string `json:"client_id"`
	Route    string `json:"route"`
	Outcome  string `json:"outcome"`
	Count    int64  `json:"count"`
}

// Credentials finds a credential by client ID; credential.Cache is one.
type Credentials interface {
	Lookup(ctx context.Context, clientID string, now time.Time) (*credential.Entry, error)
}

// ReportHandler is POST /edge/usage, for verifiers holding sapient:verify.
// The calls count in the hour the report arrives, by this instance's
// clock: a verifier reports every second or so, and no other machine's
// clock decides anything. A client ID Sapient does not know counts as a
// call whose credential was not identified.
type ReportHandler struct {
	Credentials Credentials
	Usage       *usage.Recorder
	Logger      *slog.Logger
	Now         func() time.Time
}

// ServeHTTP takes one report, whole or not at all.
func (h *ReportHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.ContentLength > maxReportBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("A report is at most %d bytes.", maxReportBytes))
		return
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxReportBytes+1))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "The body must be JSON: {\"calls\": [{\"client_id\", \"route\", \"outcome\", \"count\"}]}.")
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid_request", "The body must hold one JSON object.")
		return
	}
	if len(rep.Calls) > maxReportEntries {
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("A report holds at most %d entries; send more reports.", maxReportEntries))
		return
	}
	now := h.Now()
	type counted struct {
		ReportedCalls
		orgID string
	}
	ok := make([]counted, 0, len(rep.Calls))
	for i, c := range rep.Calls {
		field := func(name string) string { return fmt.Sprintf("calls[%d].%s", i, name) }
		switch {
		case c.Outcome != usage.Accepted && !slices.Contains(usage.RefusalReasons, c.Outcome):
			writeError(w, http.StatusBadRequest, "invalid_request", field("outcome")+" must be accepted or one of the refusal reasons.")
			return
		case c.Count < 1 || c.Count > maxReportCalls:
			writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("%s must be from 1 to %d.", field("count"), maxReportCalls))
			return
		case len(c.ClientID) > 64:
			writeError(w, http.StatusBadRequest, "invalid_request", field("client_id")+" is not a client ID.")
			return
		}
		if msg := checkRoute(c.Route); msg != "" {
			writeError(w, http.StatusBadRequest, "invalid_request", field("route")+": "+msg)
			return
		}
		entry := counted{ReportedCalls: c}
		if c.ClientID != "" {
			e, err := h.Credentials.Lookup(r.Context(), c.ClientID, now)
			switch {
			case errors.Is(err, credential.ErrNotFound):
				entry.ClientID = "" // not Sapient's: counted as not identified
			case err != nil:
				h.Logger.ErrorContext(r.Context(), "edge: usage report", "err", err)
				writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
				return
			default:
				entry.orgID = e.OrgID
			}
		}
		ok = append(ok, entry)
	}
	for _, c := range ok {
		if c.ClientID != "" {
			ev := usage.APICall
			if c.Outcome != usage.Accepted {
				ev = usage.APIRefused
			}
			h.Usage.RecordN(c.ClientID, c.orgID, ev, c.Count, now, netip.Addr{})
		}
		h.Usage.RecordRouteN(c.ClientID, c.orgID, c.Route, c.Outcome, c.Count, now)
	}
	w.WriteHeader(http.StatusNoContent)
}
