package console_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestUsagePage: API > Usage adds up the hourly counters for the period
// chosen, per organisation and per credential, draws them, and repeats
// them in a table; a Customer sees only their own organisation.
func TestUsagePage(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		orgA, orgB := h.org(t, "Acme"), h.org(t, "Beta")
		h.user(t, "alice@acme.test", orgA.ID)
		h.user(t, "root@sapient.test", "")
		mk := func(orgID, name string) store.Credential {
			cr, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: orgID, Name: name})
			if err != nil {
				t.Fatal(err)
			}
			return cr.Credential
		}
		billing, export, theirs := mk(orgA.ID, "Billing service"), mk(orgA.ID, "Nightly export"), mk(orgB.ID, "Beta invoices")
		idle := mk(orgA.ID, "Idle")
		now := h.Clock.Now().UTC()
		hour := now.Truncate(time.Hour)
		bucket := func(cr store.Credential, at time.Time, issued, refused, calls, callsRefused int64) store.UsageBucket {
			return store.UsageBucket{ClientID: cr.ClientID, OrgID: cr.OrgID, Hour: at, TokensIssued: issued,
				TokensRefused: refused, APICalls: calls, APIRefused: callsRefused}
		}
		if err := h.Store.AddUsage(t.Context(), []store.UsageBucket{
			bucket(billing, hour, 1200, 3, 4500, 7),                    // this hour
			bucket(billing, hour.Add(-5*time.Hour), 34, 0, 100, 0),     // today-ish
			bucket(export, hour.Add(-23*time.Hour), 5, 1, 0, 0),        // oldest hour of 24h
			bucket(export, hour.Add(-24*time.Hour), 1000, 0, 0, 0),     // just outside 24h
			bucket(billing, hour.Add(-10*24*time.Hour), 77, 0, 0, 0),   // within 30 days only
			bucket(theirs, hour, 999999, 99, 888888, 88),               // another organisation
			bucket(theirs, hour.Add(-3*24*time.Hour), 555555, 0, 0, 0), // another organisation
		}); err != nil {
			t.Fatal(err)
		}
		// Seven days are today and the six before: they hold every
		// bucket but the one ten days ago.
		var week int64 = 1200 + 34 + 5 + 1000

		alice := h.client(t)
		alice.login("alice@acme.test")
		tests := []struct {
			path    string
			issued  string
			caption string
		}{
			{"/usage", "1,239", "Usage by hour"},
			{"/usage?period=24h&org=" + orgB.ID, "1,239", "Usage by hour"},
			{"/usage?period=7d", count(week), "Usage by day"},
			{"/usage?period=30d&org=" + orgB.ID, count(week + 77), "Usage by day"},
		}
		for _, tt := range tests {
			r := alice.get(tt.path)
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s = %d", tt.path, r.Status)
			}
			if !strings.Contains(r.Body, "<dt>Tokens issued</dt><dd>"+tt.issued+"</dd>") {
				t.Errorf("GET %s: tokens issued is not %s", tt.path, tt.issued)
			}
			for _, want := range []string{"<caption>" + tt.caption + "</caption>", `role="img" aria-labelledby="tokens-title" aria-describedby="tokens-desc"`,
				`<title id="calls-title">API calls per`, "Billing service", "Nightly export", "Idle", `<a href="/usage"`} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("GET %s lacks %q", tt.path, want)
				}
			}
			for _, leak := range []string{"Beta", theirs.ClientID, "999,999", "555,555", "888,888"} {
				if strings.Contains(r.Body, leak) {
					t.Errorf("GET %s shows another organisation's %q", tt.path, leak)
				}
			}
		}
		r := alice.get("/usage")
		for _, want := range []string{
			"<dt>Token requests refused</dt><dd>4</dd>", "<dt>API calls</dt><dd>4,600</dd>", "<dt>API calls refused</dt><dd>7</dd>",
			// The hour's row of the screen-reader table and the chart's description.
			"<th scope=\"row\">" + hour.Format("2 Jan 2006 15:04 UTC") + "</th><td>1,200</td><td>3</td><td>4,500</td><td>7</td>",
			"1,239 tokens issued and 4 token requests refused in the last 24 hours.",
			`<td class="num">1,234</td>`, // Billing service in 24 hours
			`aria-current="page">24 hours</a>`,
		} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("GET /usage lacks %q", want)
			}
		}
		if n := strings.Count(r.Body, `<tr><th scope="row">`); n != 24 {
			t.Errorf("the hourly table has %d rows, want 24", n)
		}
		// One credential; another organisation's is not found.
		r = alice.get("/usage?credential=" + export.ClientID)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "<dt>Tokens issued</dt><dd>5</dd>") || strings.Contains(r.Body, ">Billing service</a>") {
			t.Errorf("usage of Nightly export = %d", r.Status)
		}
		if r := alice.get("/usage?credential=" + theirs.ClientID); r.Status != http.StatusNotFound || strings.Contains(r.Body, "999") {
			t.Errorf("usage of another organisation's credentials = %d", r.Status)
		}
		_ = idle

		// An Admin sees every organisation and can filter.
		root := h.client(t)
		root.login("root@sapient.test")
		r = root.get("/usage")
		if !strings.Contains(r.Body, "<dt>Tokens issued</dt><dd>1,001,238</dd>") || !strings.Contains(r.Body, "Beta invoices") || !strings.Contains(r.Body, `<select id="usage-org" name="org">`) {
			t.Errorf("the Admin's usage lacks another organisation")
		}
		r = root.get("/usage?org=" + orgB.ID)
		if !strings.Contains(r.Body, "<dt>Tokens issued</dt><dd>999,999</dd>") || strings.Contains(r.Body, "Billing service") {
			t.Errorf("the Admin's filter does not limit usage to Beta")
		}
	})
}

// count formats like the page: 1,234.
func count(n int64) string {
	d := strconv.FormatInt(n, 10)
	var s []byte
	for i := range len(d) {
		if i > 0 && (len(d)-i)%3 == 0 {
			s = append(s, ',')
		}
		s = append(s, d[i])
	}
	return string(s)
}

// TestUsageByRoute: API > Usage shows the calls to the organisation's own
// API per route and credential, accepted and refused with the reasons; a
// Customer never sees another organisation's calls, nor those no
// credential was identified for.
func TestUsageByRoute(t *testing.T) {
	h := newHarness(t, storetest.Backends()[0])
	orgA, orgB := h.org(t, "Acme"), h.org(t, "Beta")
	h.user(t, "alice@acme.test", orgA.ID)
	mine, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: orgA.ID, Name: "Shipping robot"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: orgB.ID, Name: "Beta robot"})
	if err != nil {
		t.Fatal(err)
	}
	hour := h.Clock.Now().UTC().Truncate(time.Hour)
	row := func(c store.Credential, route, outcome string, n int64) store.RouteUsage {
		return store.RouteUsage{Hour: hour, ClientID: c.ClientID, OrgID: c.OrgID, Route: route, Outcome: outcome, Calls: n}
	}
	if err := h.Store.AddRouteUsage(t.Context(), []store.RouteUsage{
		row(mine.Credential, "shipments", "accepted", 40),
		row(mine.Credential, "shipments", "insufficient_scope", 2),
		row(mine.Credential, "shipments", "rate_limited", 1),
		row(theirs.Credential, "secret-route", "accepted", 9),
		{Hour: hour, Route: "orders", Outcome: "no_token", Calls: 5},
	}); err != nil {
		t.Fatal(err)
	}
	alice := h.client(t)
	alice.login("alice@acme.test")
	r := alice.get("/usage")
	if r.Status != http.StatusOK {
		t.Fatalf("/usage: %d", r.Status)
	}
	for _, want := range []string{"Calls to your API by route", "shipments", "Shipping robot", "<td class=\"num\">40</td>",
		"<td class=\"num\">3</td>", "2 insufficient scope, 1 rate limited"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("/usage lacks %q", want)
		}
	}
	for _, leak := range []string{"secret-route", "Beta robot", "orders", "No credential identified"} {
		if strings.Contains(r.Body, leak) {
			t.Errorf("/usage shows %q to a customer of another organisation", leak)
		}
	}
}
