package api

import (
	"encoding/csv"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"sapient.dev/sapient/internal/store"
)

// Usage serves GET /api/v1/usage: counts per credential per hour or day,
// limited to the caller's organisation.
type Usage struct {
	Store  store.Usage
	Logger *slog.Logger
	Now    func() time.Time
}

// UsageRow is one credential's counts in one period.
type UsageRow struct {
	ClientID       string    `json:"client_id"`
	OrganizationID string    `json:"organization_id"`
	Start          time.Time `json:"start"`
	TokensIssued   int64     `json:"tokens_issued"`
	TokensRefused  int64     `json:"tokens_refused"`
	APICalls       int64     `json:"api_calls"`
	APIRefused     int64     `json:"api_refused"`
}

// maxUsageSpan bounds one query.
const maxUsageSpan = 400 * 24 * time.Hour

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
	if len(bad) == 0 && !from.Before(to) {
		bad = append(bad, FieldError{"from", "from must be before to."})
	}
	if len(bad) == 0 && to.Sub(from) > maxUsageSpan {
		bad = append(bad, FieldError{"to", "At most 400 days at once."})
	}
	if len(bad) > 0 {
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", bad[0].Message, bad)
		return
	}
	f := store.UsageFilter{OrgID: actor.OrgFilter(q.Get("organization_id")), ClientID: q.Get("client_id"), From: from, To: to}
	if !actor.IsAdmin() && f.OrgID == "" {
		problem(w, r, http.StatusForbidden, "Forbidden", "No organisation.", nil)
		return
	}
	buckets, err := h.Store.ListUsage(r.Context(), f)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "api: usage", "err", err)
		problem(w, r, http.StatusInternalServerError, "Internal error", "Try again.", nil)
		return
	}
	rows := Aggregate(buckets, granularity == "day")
	if q.Get("format") == "csv" || r.Header.Get("Accept") == "text/csv" {
		writeCSV(w, rows)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"granularity": granularity, "from": from, "to": to, "data": rows})
}

// Aggregate turns hourly buckets into rows per hour or per UTC day, in
// time order.
func Aggregate(buckets []store.UsageBucket, daily bool) []UsageRow {
	rows := make([]UsageRow, 0, len(buckets))
	index := map[[2]string]int{}
	for _, b := range buckets {
		start := b.Hour.UTC()
		if daily {
			start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
		}
		key := [2]string{b.ClientID, start.Format(time.RFC3339)}
		i, ok := index[key]
		if !ok {
			i = len(rows)
			index[key] = i
			rows = append(rows, UsageRow{ClientID: b.ClientID, OrganizationID: b.OrgID, Start: start})
		}
		rows[i].TokensIssued += b.TokensIssued
		rows[i].TokensRefused += b.TokensRefused
		rows[i].APICalls += b.APICalls
		rows[i].APIRefused += b.APIRefused
	}
	return rows
}

func writeCSV(w http.ResponseWriter, rows []UsageRow) {
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
