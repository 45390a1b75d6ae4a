package console_test

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestCreateWithExpiryAndAllowedIPs: the Create API Credentials dialog
// takes an optional expiry date and IP allow-list, and refuses bad ones in
// the dialog with the input kept.
func TestCreateWithExpiryAndAllowedIPs(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	c := h.client(t)
	c.login("alice@acme.test")
	today := h.Clock.Now().UTC().Truncate(24 * time.Hour)
	in30 := today.AddDate(0, 0, 30)

	if r := c.get("/credentials/new"); !strings.Contains(r.Body, `name="expires" type="date" value="" min="`+today.AddDate(0, 0, 1).Format(time.DateOnly)+`"`) ||
		!strings.Contains(r.Body, `<label for="create-ips">Allowed IP addresses`) {
		t.Fatalf("the dialog lacks Expires or Allowed IP addresses:\n%s", r.Body)
	}

	refused := []struct {
		name, expires, ips, want, field string
	}{
		{"expiry in the past", today.AddDate(0, 0, -1).Format(time.DateOnly), "", "Expiry must be in the future.", "create-expires"},
		{"expiry today", today.Format(time.DateOnly), "", "Expiry must be in the future.", "create-expires"},
		{"not a date", "31/12/2026", "", "Enter a date such as 2026-12-31", "create-expires"},
		{"bad CIDR", "", "192.0.2.0/24\n10.0.0.0/33", "&#34;10.0.0.0/33&#34; is not a valid CIDR", "create-ips"},
		{"not an address", "", "localhost", "&#34;localhost&#34; is not a valid IP address or CIDR", "create-ips"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post("/credentials", url.Values{"name": {"Edge"}, "expires": {tt.expires}, "allowed_ips": {tt.ips}})
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, tt.want) {
				t.Fatalf("= %d, want 422 with %q\n%s", r.Status, tt.want, r.Body)
			}
			if !strings.Contains(r.Body, `id="`+tt.field+`-error"`) || !strings.Contains(r.Body, `aria-describedby="`+tt.field+`-hint `+tt.field+`-error" aria-invalid="true"`) {
				t.Errorf("the message is not tied to field %s", tt.field)
			}
			if !strings.Contains(r.Body, `value="Edge"`) || !strings.Contains(r.Body, `value="`+tt.expires+`"`) || !strings.Contains(r.Body, html.EscapeString(tt.ips)+"</textarea>") {
				t.Error("the input is lost")
			}
			if secretRE.MatchString(r.Body) {
				t.Error("a refused create shows a secret")
			}
		})
	}
	if list, _ := h.Store.ListCredentials(t.Context(), store.CredentialFilter{}); len(list) != 0 {
		t.Fatalf("refused creates made %d credentials", len(list))
	}

	r := c.post("/credentials", url.Values{"name": {"Edge"}, "expires": {in30.Format(time.DateOnly)},
		"allowed_ips": {" 192.0.2.7\r\n2001:db8::/32 \r\n\r\n198.51.100.0/24"}})
	if r.Status != http.StatusOK || !secretRE.MatchString(r.Body) {
		t.Fatalf("create = %d\n%s", r.Status, r.Body)
	}
	list, _ := h.Store.ListCredentials(t.Context(), store.CredentialFilter{})
	if len(list) != 1 || !list[0].ExpiresAt.Equal(in30) ||
		!slices.Equal(list[0].AllowedCIDRs, []string{"192.0.2.7/32", "198.51.100.0/24", "2001:db8::/32"}) {
		t.Fatalf("stored = %+v", list)
	}
	page := c.get("/credentials").Body
	for _, want := range []string{"Expires <time", ">" + in30.Format("2 Jan 2006") + "</time>", "Only from 192.0.2.7/32, 198.51.100.0/24, 2001:db8::/32"} {
		if !strings.Contains(page, want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	if strings.Contains(page, "Expires in") {
		t.Error("30 days ahead the table already warns")
	}
}

// TestExpiryBadge: the table warns a week ahead and shows Expired after.
func TestExpiryBadge(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	expires := h.Clock.Now().Add(10 * 24 * time.Hour)
	if _, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: o.ID, Name: "Temp", ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	c := h.client(t)
	c.login("alice@acme.test")
	tests := []struct {
		advance   time.Duration
		badge     string // "" for none
		status    string
		offersAll bool // Edit and Roll secret
	}{
		{0, "", "Active", true},
		{3*24*time.Hour - time.Minute, "", "Active", true},
		{time.Minute, "Expires in 7 days", "Active", true},
		{4*24*time.Hour + time.Hour, "Expires in 2 days", "Active", true},
		{2 * 24 * time.Hour, "Expires in 23 hours", "Active", true},
		{23 * time.Hour, "", "Expired", false},
	}
	for _, tt := range tests {
		h.Clock.Advance(tt.advance)
		c.login("alice@acme.test") // sessions idle out while the clock jumps
		page := c.get("/credentials").Body
		name := tt.badge
		if name == "" {
			name = "no badge"
		}
		t.Run(name+" "+tt.status, func(t *testing.T) {
			if tt.badge != "" && !strings.Contains(page, `<span class="badge badge-warn">`+tt.badge+`</span>`) {
				t.Errorf("no badge %q", tt.badge)
			}
			if tt.badge == "" && strings.Contains(page, "badge-warn") {
				t.Error("a badge is shown")
			}
			if !strings.Contains(page, `status-`+strings.ToLower(tt.status)+`">`+tt.status) {
				t.Errorf("status is not %s", tt.status)
			}
			if got := strings.Contains(page, `aria-label="Roll secret of Temp"`) && strings.Contains(page, `aria-label="Edit Temp"`); got != tt.offersAll {
				t.Errorf("offers Edit and Roll secret: %v, want %v", got, tt.offersAll)
			}
		})
	}
}

// TestRollSecret: Roll secret shows the new secret once, in the answer to
// the POST, and the old one keeps working for the chosen time.
func TestRollSecret(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		o, other := h.org(t, "Acme"), h.org(t, "Beta")
		h.user(t, "alice@acme.test", o.ID)
		created, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: o.ID, Name: "Billing service"})
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: other.ID, Name: "Beta invoices"})
		if err != nil {
			t.Fatal(err)
		}
		id := created.Credential.ClientID
		c := h.client(t)
		c.login("alice@acme.test")

		// Without script the dialog is a page of its own.
		r := c.get("/credentials/" + id + "/roll")
		for _, want := range []string{`id="roll-dialog" class="dialog" aria-labelledby="roll-title" open`, `action="/credentials/` + id + `/roll"`,
			`<strong data-roll-name>Billing service</strong>`, `value="0s"><span>Now</span>`, `value="1h0m0s"><span>1 hour</span>`,
			`value="24h0m0s" checked><span>24 hours</span>`, `value="168h0m0s"><span>7 days</span>`} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("the roll page lacks %q", want)
			}
		}

		for _, tt := range []struct {
			overlap string
			want    time.Duration
		}{{"1h0m0s", time.Hour}, {"168h0m0s", 7 * 24 * time.Hour}, {"0s", 0}} {
			before, _ := h.Store.GetCredential(t.Context(), id)
			r := c.post("/credentials/"+id+"/roll", url.Values{"overlap": {tt.overlap}})
			if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("roll %s = %d, Cache-Control %q", tt.overlap, r.Status, r.Header.Get("Cache-Control"))
			}
			secret := secretRE.FindString(r.Body)
			after, _ := h.Store.GetCredential(t.Context(), id)
			if secret == "" || after.SecretHash != credential.HashSecret(secret).String() {
				t.Fatalf("roll %s: the page's secret is not the new one", tt.overlap)
			}
			for _, want := range []string{`<h2 id="secret-title">New secret</h2>`, "The secret is not stored and will never be shown again.", `aria-label="Copy Secret"`} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("roll %s: the answer lacks %q", tt.overlap, want)
				}
			}
			if tt.want == 0 {
				if after.PreviousSecretHash != "" || !strings.Contains(r.Body, "The old secret has stopped working.") {
					t.Errorf("roll Now: old secret kept (%q)", after.PreviousSecretHash)
				}
			} else {
				until := h.Clock.Now().Add(tt.want).UTC()
				if after.PreviousSecretHash != before.SecretHash || !after.PreviousSecretExpiresAt.Equal(until) ||
					!strings.Contains(r.Body, "The old secret keeps working until") {
					t.Errorf("roll %s: previous %q until %v, want the old hash until %v", tt.overlap, after.PreviousSecretHash, after.PreviousSecretExpiresAt, until)
				}
				if page := c.get("/credentials").Body; !strings.Contains(page, "Old secret valid until") || strings.Contains(page, secret) {
					t.Errorf("roll %s: the table does not show the overlap, or shows the secret", tt.overlap)
				}
			}
		}
		if page := c.get("/credentials").Body; strings.Contains(page, "Old secret valid until") {
			t.Error("after Now the table still shows an old secret")
		}

		refused := []struct {
			name, id, overlap string
			status            int
		}{
			{"other overlap", id, "2h", http.StatusUnprocessableEntity},
			{"no overlap", id, "", http.StatusUnprocessableEntity},
			{"another organisation's", theirs.Credential.ClientID, "0s", http.StatusNotFound},
			{"unknown", "sapci_nope", "0s", http.StatusNotFound},
		}
		for _, tt := range refused {
			hash := func() string { cr, _ := h.Store.GetCredential(t.Context(), tt.id); return cr.SecretHash }
			was := hash()
			r := c.post("/credentials/"+tt.id+"/roll", url.Values{"overlap": {tt.overlap}})
			if r.Status != tt.status || secretRE.MatchString(r.Body) || hash() != was {
				t.Errorf("%s: = %d, want %d and no new secret", tt.name, r.Status, tt.status)
			}
		}
		if r := c.get("/credentials/" + theirs.Credential.ClientID + "/roll"); r.Status != http.StatusNotFound {
			t.Errorf("GET roll of another organisation's = %d", r.Status)
		}
		// Revoked credentials cannot be rolled.
		if _, err := h.Creds.Revoke(t.Context(), access.CLI, id); err != nil {
			t.Fatal(err)
		}
		if r := c.post("/credentials/"+id+"/roll", url.Values{"overlap": {"0s"}}); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Body, "Only an active credential can get a new secret.") || secretRE.MatchString(r.Body) {
			t.Errorf("roll revoked = %d", r.Status)
		}
	})
}

// TestEditCredentials: Edit changes the name, permissions and allowed IP
// addresses through the same rules as the REST API.
func TestEditCredentials(t *testing.T) {
	h := newHarness(t, sqlite)
	o, other := h.org(t, "Acme"), h.org(t, "Beta")
	h.user(t, "alice@acme.test", o.ID)
	mk := func(orgID, name string, scopes ...string) string {
		cr, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: orgID, Name: name, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return cr.Credential.ClientID
	}
	id := mk(o.ID, "Billing service", "credentials:read")
	mk(o.ID, "Taken")
	gateway := mk(o.ID, "Gateway", "sapient:introspect")
	theirs := mk(other.ID, "Beta invoices")
	c := h.client(t)
	c.login("alice@acme.test")

	r := c.get("/credentials/" + id + "/edit")
	for _, want := range []string{`id="edit-dialog" class="dialog" aria-labelledby="edit-title" open`, `id="edit-name" name="name" type="text" value="Billing service"`,
		`value="credentials:read" checked`, `value="usage:read">`, `action="/credentials/` + id + `/edit"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("the edit page lacks %q", want)
		}
	}
	if strings.Contains(r.Body, `value="sapient:introspect"`) {
		t.Error("a Customer is offered sapient:introspect")
	}

	refused := []struct {
		name string
		form url.Values
		want string
	}{
		{"empty name", url.Values{"name": {" "}, "scope": {"usage:read"}, "allowed_ips": {"192.0.2.1"}}, "Name is required."},
		{"name taken", url.Values{"name": {"Taken"}}, "Another active credential already has this name."},
		{"Admin-only scope", url.Values{"name": {"Billing service"}, "scope": {"sapient:introspect"}}, "is not available to your organisation."},
		{"bad CIDR", url.Values{"name": {"Billing service"}, "allowed_ips": {"300.1.1.1"}}, "is not a valid IP address or CIDR"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post("/credentials/"+id+"/edit", tt.form)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, tt.want) || !strings.Contains(r.Body, `id="edit-dialog"`) {
				t.Fatalf("= %d, want 422 with %q in the dialog", r.Status, tt.want)
			}
			if !strings.Contains(r.Body, `value="`+html.EscapeString(tt.form.Get("name"))+`"`) || !strings.Contains(r.Body, html.EscapeString(tt.form.Get("allowed_ips"))+"</textarea>") {
				t.Error("the input is lost")
			}
			for _, sc := range tt.form["scope"] {
				if sc != "sapient:introspect" && !strings.Contains(r.Body, `value="`+sc+`" checked`) {
					t.Errorf("%s is no longer ticked", sc)
				}
			}
		})
	}
	if cr, _ := h.Store.GetCredential(t.Context(), id); cr.Name != "Billing service" || !slices.Equal(cr.Scopes, []string{"credentials:read"}) || len(cr.AllowedCIDRs) != 0 {
		t.Fatalf("refused edits changed %+v", cr)
	}

	r = c.post("/credentials/"+id+"/edit", url.Values{"name": {"Billing"}, "scope": {"usage:read", "audit:read"}, "allowed_ips": {"10.0.0.0/8\n192.0.2.1"}})
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || loc != "/credentials?saved="+id {
		t.Fatalf("save = %d %q\n%s", r.Status, loc, r.Body)
	}
	cr, _ := h.Store.GetCredential(t.Context(), id)
	if cr.Name != "Billing" || !slices.Equal(cr.Scopes, []string{"audit:read", "usage:read"}) || !slices.Equal(cr.AllowedCIDRs, []string{"10.0.0.0/8", "192.0.2.1/32"}) {
		t.Errorf("after save = %+v", cr)
	}
	if page := c.get("/credentials?saved=" + id).Body; !strings.Contains(page, "Changes to API credentials “Billing” saved.") {
		t.Error("no confirmation")
	}
	// An empty list allows every address again.
	c.post("/credentials/"+id+"/edit", url.Values{"name": {"Billing"}, "scope": {"usage:read", "audit:read"}, "allowed_ips": {""}})
	if cr, _ := h.Store.GetCredential(t.Context(), id); len(cr.AllowedCIDRs) != 0 {
		t.Errorf("allow-list after emptying = %v", cr.AllowedCIDRs)
	}

	// A permission only an Admin may grant is shown locked and kept when
	// a Customer renames the credentials.
	r = c.get("/credentials/" + gateway + "/edit")
	if !strings.Contains(r.Body, `value="sapient:introspect" checked disabled`) || !strings.Contains(r.Body, "Only an Admin can change this permission.") {
		t.Errorf("the locked permission is not shown")
	}
	if r := c.post("/credentials/"+gateway+"/edit", url.Values{"name": {"Edge gateway"}, "scope": {"sapient:introspect"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("rename = %d\n%s", r.Status, r.Body)
	}
	if cr, _ := h.Store.GetCredential(t.Context(), gateway); cr.Name != "Edge gateway" || !slices.Equal(cr.Scopes, []string{"sapient:introspect"}) {
		t.Errorf("after rename = %+v", cr)
	}

	for _, p := range []string{"/credentials/" + theirs + "/edit", "/credentials/sapci_nope/edit"} {
		if r := c.get(p); r.Status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.Status)
		}
		if r := c.post(p, url.Values{"name": {"Mine now"}}); r.Status != http.StatusNotFound {
			t.Errorf("POST %s = %d, want 404", p, r.Status)
		}
	}
	if cr, _ := h.Store.GetCredential(t.Context(), theirs); cr.Name != "Beta invoices" {
		t.Error("a Customer renamed another organisation's credentials")
	}
}
