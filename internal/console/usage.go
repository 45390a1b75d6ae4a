package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/usage"
)

// usagePeriod is one choice of the period switch of API > Usage.
type usagePeriod struct {
	Key   string // the value of ?period=
	Label string
	Span  string // "the last 24 hours", for sentences
	Days  int    // 0: the last 24 hours, hour by hour; else days, day by day
}

// usagePeriods are the periods API > Usage offers; the first is the
// default.
var usagePeriods = []usagePeriod{
	{Key: "24h", Label: "24 hours", Span: "the last 24 hours"},
	{Key: "7d", Label: "7 days", Span: "the last 7 days", Days: 7},
	{Key: "30d", Label: "30 days", Span: "the last 30 days", Days: 30},
}

// usageCounts are the four counters of usage.
type usageCounts struct {
	TokensIssued, TokensRefused, APICalls, APIRefused int64
}

func (u *usageCounts) add(r usage.Row) {
	u.TokensIssued += r.TokensIssued
	u.TokensRefused += r.TokensRefused
	u.APICalls += r.APICalls
	u.APIRefused += r.APIRefused
}

// Any reports whether anything was counted.
func (u usageCounts) Any() bool { return u != usageCounts{} }

// usageView is the data of API > Usage.
type usageView struct {
	Admin      bool
	Orgs       []store.Org // Admin: the organisation filter's choices
	Filter     string      // Admin: the organisation shown, "" for all
	FilterName string
	Creds      []store.Credential // the credential filter's choices
	Credential *store.Credential  // the credential shown; nil for all
	Period     usagePeriod
	Periods    []periodLink
	From, To   time.Time
	Totals     usageCounts
	Slots      []usageSlot // one per hour or day, oldest first
	Charts     []chart
	Rows       []usageRow // one per credential
	Routes     []routeRow // calls to the organisation's own API, per route and credential
}

// routeRow is one credential's calls to one route of the operator's API
// in the period.
type routeRow struct {
	Route    string
	Name     string // the credential's; "" when none was identified
	OrgName  string
	Accepted int64
	Refused  int64
	Reasons  string // "2 insufficient scope, 1 revoked"
}

// periodLink is one entry of the period switch.
type periodLink struct {
	Label   string
	URL     string
	Current bool
}

// usageSlot is the counts of one hour or day.
type usageSlot struct {
	Start time.Time
	Label string // "14:00" or "25 Nov"
	Long  string // "25 Nov 2026 14:00 UTC" or "25 Nov 2026"
	usageCounts
}

// usageRow is one credential's counts in the period.
type usageRow struct {
	ClientID   string
	Name       string
	OrgName    string
	Status     string
	LastUsedAt time.Time
	LastUsed   string
	LastUsedIP string
	usageCounts
}

// usageList shows API > Usage: the organisation's totals, charts and the
// counts of each credential for the chosen period. A Customer always sees
// their own organisation, whatever the query says.
func (c *Console) usageList(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := &usageView{Admin: s.Actor.IsAdmin(), Period: usagePeriods[0]}
	for _, p := range usagePeriods {
		if p.Key == q.Get("period") {
			v.Period = p
		}
	}
	orgs, names, chosen, err := c.orgFilter(r.Context(), s, q.Get("org"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Orgs, v.Filter, v.FilterName = orgs, chosen.ID, chosen.Name
	if id := q.Get("credential"); id != "" {
		cr, ok := c.reachable(w, r, s, id)
		if !ok {
			return
		}
		v.Credential = &cr
		if v.Admin {
			v.Filter, v.FilterName = cr.OrgID, names[cr.OrgID]
		}
	}
	for _, p := range usagePeriods {
		v.Periods = append(v.Periods, periodLink{Label: p.Label, URL: usageURL(p.Key, v.Filter, v.Credential), Current: p == v.Period})
	}

	creds, err := c.creds.List(r.Context(), s.Actor, v.Filter)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if !v.Admin || v.Filter != "" {
		v.Creds = creds
	}
	now := c.now().UTC()
	daily := v.Period.Days > 0
	if daily {
		today := now.Truncate(24 * time.Hour)
		v.From, v.To = today.AddDate(0, 0, 1-v.Period.Days), today.AddDate(0, 0, 1)
	} else {
		hour := now.Truncate(time.Hour)
		v.From, v.To = hour.Add(-23*time.Hour), hour.Add(time.Hour)
	}
	uq := usage.Query{OrgID: v.Filter, From: v.From, To: v.To, Daily: daily}
	if v.Credential != nil {
		uq.ClientID = v.Credential.ClientID
	}
	rows, err := c.usage.List(r.Context(), s.Actor, uq)
	if errors.Is(err, usage.ErrNoOrganisation) {
		c.renderError(w, r, s, http.StatusForbidden, "Your user belongs to no organisation.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}

	// One slot per hour or day of the period, empty ones included.
	index := map[time.Time]int{}
	for t := v.From; t.Before(v.To); {
		slot := usageSlot{Start: t}
		if daily {
			slot.Label, slot.Long = t.Format("2 Jan"), t.Format("2 Jan 2006")
			t = t.AddDate(0, 0, 1)
		} else {
			slot.Label, slot.Long = t.Format("15:04"), t.Format("2 Jan 2006 15:04 UTC")
			t = t.Add(time.Hour)
		}
		index[slot.Start] = len(v.Slots)
		v.Slots = append(v.Slots, slot)
	}
	perCred := map[string]*usageCounts{}
	for _, row := range rows {
		if i, ok := index[row.Start]; ok {
			v.Slots[i].add(row)
		}
		v.Totals.add(row)
		if perCred[row.ClientID] == nil {
			perCred[row.ClientID] = &usageCounts{}
		}
		perCred[row.ClientID].add(row)
	}

	// Every credential that is active or was used in the period.
	for _, cr := range creds {
		counts := perCred[cr.ClientID]
		if v.Credential != nil && cr.ClientID != v.Credential.ClientID {
			continue
		}
		if counts == nil && !cr.Active(now) {
			continue
		}
		row := usageRow{ClientID: cr.ClientID, Name: cr.Name, OrgName: names[cr.OrgID], Status: "Active",
			LastUsedAt: cr.LastUsedAt, LastUsedIP: cr.LastUsedIP}
		if counts != nil {
			row.usageCounts = *counts
		}
		switch {
		case !cr.RevokedAt.IsZero():
			row.Status = "Revoked"
		case !cr.Active(now):
			row.Status = "Expired"
		}
		if !cr.LastUsedAt.IsZero() {
			row.LastUsed = ago(now, cr.LastUsedAt)
		}
		v.Rows = append(v.Rows, row)
	}
	slices.SortStableFunc(v.Rows, func(a, b usageRow) int {
		return cmp.Or(cmp.Compare(b.TokensIssued+b.APICalls, a.TokensIssued+a.APICalls), cmp.Compare(a.Name, b.Name))
	})
	v.Charts = usageCharts(v)
	routes, err := c.usage.Routes(r.Context(), s.Actor, uq)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Routes = routeRows(routes, creds, names)
	c.render(w, r, http.StatusOK, "usage", page{Title: "Usage", Nav: "usage", S: s, Data: v})
}

// usageURL is the address of API > Usage for a period, organisation and
// credential.
func usageURL(period, org string, cr *store.Credential) string {
	q := url.Values{"period": {period}}
	if org != "" {
		q.Set("org", org)
	}
	if cr != nil {
		q.Set("credential", cr.ClientID)
	}
	return "/usage?" + q.Encode()
}

// routeRows sums the period's calls per route and credential, busiest
// first.
func routeRows(rows []usage.RouteRow, creds []store.Credential, orgNames map[string]string) []routeRow {
	names := map[string]string{}
	for _, cr := range creds {
		names[cr.ClientID] = cr.Name
	}
	type key struct{ route, clientID string }
	index := map[key]int{}
	var out []routeRow
	refused := map[key]map[string]int64{}
	for _, r := range rows {
		k := key{r.Route, r.ClientID}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			name := names[r.ClientID]
			if name == "" && r.ClientID != "" {
				name = r.ClientID
			}
			out = append(out, routeRow{Route: r.Route, Name: name, OrgName: orgNames[r.OrganizationID]})
			refused[k] = map[string]int64{}
		}
		out[i].Accepted += r.Accepted
		for reason, n := range r.Refused {
			out[i].Refused += n
			refused[k][reason] += n
		}
	}
	for k, i := range index {
		var parts []string
		for _, reason := range usage.RefusalReasons {
			if n := refused[k][reason]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(reason, "_", " ")))
			}
		}
		out[i].Reasons = strings.Join(parts, ", ")
	}
	slices.SortStableFunc(out, func(a, b routeRow) int {
		return cmp.Or(cmp.Compare(a.Route, b.Route), cmp.Compare(b.Accepted+b.Refused, a.Accepted+a.Refused), cmp.Compare(a.Name, b.Name))
	})
	return out
}
