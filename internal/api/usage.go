package api

import (
	"encoding/csv"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"sapient.dev/sapient/internal/usage"
)

// Usage serves GET /api/v1/usage: counts per credential per hour or day,
// limited to the caller's organisation by usage.Service.
type Usage struct {
	Service *usage.Service
	Logger  *slog.Logger
	Now     func() time.Time
}

func (h *Usage) list(w http.ResponseWriter, r *http.Request) {
	actor := Caller(r.Context()).Actor
	q := r.URL.Query()
	now := h.Now().UTC()
	to, from := now.Truncate(time.Hour).Add(time.Hour), now.Add(-24*time.Hour).Truncate(time.Hour)
	var bad []FieldError
	parse := func(name string, into *time.Time) {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad = append(bad, FieldError{name, "Use an RFC 3339 time such as 2026-11-25T00:00:00Z."})
				return
			}
			*into = t.UTC()
		}
	}
	parse("from", &from)
	parse("to", &to)
	granularity := q.Get("granularity")
	if granularity == "" {
		granularity = "hour"
	}
	if granularity != "hour" && granularity != "day" {
		bad = append(bad, FieldError{"granularity", "Use hour or day."})
	}
	by := q.Get("by")
	if by != "" && by != "credential" && by != "route" {
		bad = append(bad, FieldError{"by", "Use credential (the default) or route."})
	}
	if len(bad) > 0 {
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", bad[0].Message, bad)
		return
	}
	uq := usage.Query{OrgID: q.Get("organization_id"), ClientID: q.Get("client_id"), From: from, To: to, Daily: granularity == "day"}
	if by == "route" {
		h.routes(w, r, uq, granularity)
		return
	}
	rows, err := h.Service.List(r.Context(), actor, uq)
	if h.failed(w, r, err) {
		return
	}
	if q.Get("format") == "csv" || r.Header.Get("Accept") == "text/csv" {
		writeCSV(w, rows)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"granularity": granularity, "from": from, "to": to, "data": rows})
}

func writeCSV(w http.ResponseWriter, rows []usage.Row) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="sapient-usage.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"start", "client_id", "organization_id", "tokens_issued", "tokens_refused", "api_calls", "api_refused"})
	for _, r := range rows {
		cw.Write([]string{r.Start.Format(time.RFC3339), r.ClientID, r.OrganizationID,
			strconv.FormatInt(r.TokensIssued, 10), strconv.FormatInt(r.TokensRefused, 10),
			strconv.FormatInt(r.APICalls, 10), strconv.FormatInt(r.APIRefused, 10)})
	}
	cw.Flush()
}

// routes answers ?by=route: calls to the operator's API per credential,
// route and period, accepted and refused by reason.
func (h *Usage) routes(w http.ResponseWriter, r *http.Request, q usage.Query, granularity string) {
	rows, err := h.Service.Routes(r.Context(), Caller(r.Context()).Actor, q)
	if h.failed(w, r, err) {
		return
	}
	if r.URL.Query().Get("format") == "csv" || r.Header.Get("Accept") == "text/csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="sapient-usage-by-route.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		cw := csv.NewWriter(w)
		head := []string{"start", "client_id", "organization_id", "route", "accepted"}
		for _, reason := range usage.RefusalReasons {
			head = append(head, "refused_"+reason)
		}
		cw.Write(head)
		for _, row := range rows {
			rec := []string{row.Start.Format(time.RFC3339), row.ClientID, row.OrganizationID, row.Route, strconv.FormatInt(row.Accepted, 10)}
			for _, reason := range usage.RefusalReasons {
				rec = append(rec, strconv.FormatInt(row.Refused[reason], 10))
			}
			cw.Write(rec)
		}
		cw.Flush()
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"granularity": granularity, "from": q.From, "to": q.To, "by": "route", "data": rows})
}

// failed answers a usage.Service error as a problem, if there is one.
func (h *Usage) failed(w http.ResponseWriter, r *http.Request, err error) bool {
	var qerr *usage.QueryError
	switch {
	case err == nil:
		return false
	case errors.As(err, &qerr):
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", qerr.Message, []FieldError{{qerr.Field, qerr.Message}})
	case errors.Is(err, usage.ErrNoOrganisation):
		problem(w, r, http.StatusForbidden, "Forbidden", "No organisation.", nil)
	default:
		h.Logger.ErrorContext(r.Context(), "api: usage", "err", err)
		problem(w, r, http.StatusInternalServerError, "Internal error", "Try again.", nil)
	}
	return true
}
