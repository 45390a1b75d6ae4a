package console_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/server/servertest"
)

// me calls GET /api/v1/me with a bearer token and returns the status and
// the scopes the API saw.
func (a *app) me(t *testing.T, accessToken string) (int, []string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.APIURL+"/api/v1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Scopes []string `json:"scopes"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Scopes
}

// TestBrowserScopeCheckboxes: the permissions an Admin allows a customer
// are the checkboxes its users see; the boxes a user ticks at Create and
// in Edit are exactly the scopes the tokens carry.
func TestBrowserScopeCheckboxes(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	o := a.customer(t, "Acme Logistics", "alice@acme.test")

	// The Admin withdraws usage:read from Acme in Admin > Customers.
	b.login(a.URL, servertest.AdminEmail, servertest.AdminPassword)
	b.open(a.URL + "/admin/customers")
	b.click("link", "Edit permissions of Acme Logistics")
	b.waitURL("/admin/customers/" + o.ID)
	b.do("untick usage:read", chromedpClickCSS(`input[value="usage:read"]`))
	b.do("untick webhooks:read", chromedpClickCSS(`input[value="webhooks:read"]`))
	b.do("untick webhooks:write", chromedpClickCSS(`input[value="webhooks:write"]`))
	b.shot("customer-permissions")
	b.click("button", "Save permissions")
	b.waitText("Permissions of “Acme Logistics” saved.")
	b.do("open the user menu", chromedpClickCSS(`details.user-menu > summary`))
	b.click("button", "Log out")
	b.waitURL("/login")

	// Alice is offered what Acme may grant, all ticked.
	b.login(a.URL, "alice@acme.test", testPassword)
	b.open(a.URL + "/credentials")
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	boxes := b.checkboxes("create-dialog")
	if len(boxes) != 3 || !boxes["credentials:read"] || !boxes["credentials:write"] || !boxes["audit:read"] {
		t.Fatalf("offered %v, want credentials:read, credentials:write and audit:read, ticked", boxes)
	}
	b.fill("Name", "Reporting", d)
	b.do("untick credentials:write", chromedpClickCSS(`#create-dialog input[value="credentials:write"]`))
	b.do("untick audit:read", chromedpClickCSS(`#create-dialog input[value="audit:read"]`))
	b.shot("create-one-permission")
	b.click("button", "Create", d)
	d = b.dialog("API Credentials")
	clientID, secret := b.value("Client ID", d), b.value("Secret", d)
	b.click("button", "Close", d)
	b.waitGone("#secret-dialog")
	if r := row(b.tableRows("Current API Credentials"), "Reporting"); r == nil || r["Permissions"] != "credentials:read" {
		t.Errorf("row = %v, want credentials:read alone", r)
	}
	tok := a.token(t, clientID, secret)
	if status, scopes := a.me(t, tok.AccessToken); status != 200 || strings.Join(scopes, " ") != "credentials:read" {
		t.Errorf("/api/v1/me = %d with scopes %v, want credentials:read", status, scopes)
	}

	// Edit: the boxes show what the credentials hold; ticking and
	// unticking changes it, and a scope removed is refused at once to the
	// token already issued.
	b.click("button", "Edit Reporting")
	d = b.dialog("Edit API Credentials")
	if got := b.checkboxes("edit-dialog"); !got["credentials:read"] || got["credentials:write"] || got["audit:read"] {
		t.Errorf("Edit shows %v, want credentials:read alone ticked", got)
	}
	b.fill("Name", "Reporting service", d)
	b.do("tick audit:read", chromedpClickCSS(`#edit-dialog input[value="audit:read"]`))
	b.do("untick credentials:read", chromedpClickCSS(`#edit-dialog input[value="credentials:read"]`))
	b.shot("edit-dialog")
	b.click("button", "Save", d)
	b.waitText("Changes to API credentials “Reporting service” saved.")
	if r := row(b.tableRows("Current API Credentials"), "Reporting service"); r == nil || r["Permissions"] != "audit:read" {
		t.Errorf("row after Edit = %v, want audit:read alone", r)
	}
	b.shot("edited")
	if status, _ := a.me(t, tok.AccessToken); status != 200 {
		t.Errorf("/api/v1/me with the old token = %d, want 200 (it needs no scope)", status)
	}
	tok = a.token(t, clientID, secret)
	if status, scopes := a.me(t, tok.AccessToken); status != 200 || strings.Join(scopes, " ") != "audit:read" {
		t.Errorf("a new token carries %v, want audit:read", scopes)
	}
}

// TestBrowserRollSecret: Roll secret shows a new secret once; during the
// overlap the old and the new secret both obtain tokens, and rolling with
// Now stops every secret but the newest.
func TestBrowserRollSecret(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	o := a.customer(t, "Acme Logistics", "alice@acme.test")
	first := a.Env.Credential(t, o.ID, "Billing service", nil)
	id, secret1 := first.Credential.ClientID, first.Secret
	b.login(a.URL, "alice@acme.test", testPassword)
	b.open(a.URL + "/credentials")

	// The dialog opens in place and asks how long the old secret works.
	b.click("button", "Roll secret of Billing service")
	d := b.dialog("Roll secret")
	if got := clean(eval[string](b, `document.getElementById('roll-dialog').innerText`)); !strings.Contains(got, "Give the API credentials Billing service a new secret.") {
		t.Errorf("the dialog says %q", got)
	}
	for _, choice := range []string{"Now", "1 hour", "24 hours", "7 days"} {
		b.find("radio", choice, d)
	}
	b.click("radio", "1 hour", d)
	b.shot("roll-dialog")
	b.click("button", "Roll secret", d)

	d = b.dialog("New secret")
	if got := b.value("Client ID", d); got != id {
		t.Errorf("Client ID = %q, want %q", got, id)
	}
	secret2 := b.value("Secret", d)
	if err := credential.CheckSecretFormat(secret2); err != nil || secret2 == secret1 {
		t.Fatalf("new secret %q: %v", secret2, err)
	}
	b.waitText("The secret is not stored and will never be shown again.")
	b.waitText("The old secret keeps working until")
	b.find("button", "Copy Secret", d)
	b.shot("new-secret")
	b.click("button", "Close", d)
	b.waitGone("#secret-dialog")
	if strings.Contains(b.html(), secret2) {
		t.Fatal("the new secret is on the page after Close")
	}
	r := row(b.tableRows("Current API Credentials"), "Billing service")
	if r == nil || !strings.Contains(r["Status"], "Old secret valid until") {
		t.Errorf("row during the overlap = %v", r)
	}
	b.shot("overlap")

	// Both secrets obtain tokens during the overlap.
	for name, s := range map[string]string{"old": secret1, "new": secret2} {
		if tok := a.token(t, id, s); tok.Status != 200 {
			t.Errorf("%s secret during the overlap: %+v", name, tok)
		}
	}

	// Now: the secret shown is the only one that works.
	b.click("button", "Roll secret of Billing service")
	d = b.dialog("Roll secret")
	b.click("radio", "Now", d)
	b.click("button", "Roll secret", d)
	d = b.dialog("New secret")
	secret3 := b.value("Secret", d)
	b.waitText("The old secret has stopped working.")
	b.shot("rolled-now")
	b.click("button", "Close", d)
	b.waitGone("#secret-dialog")
	if r := row(b.tableRows("Current API Credentials"), "Billing service"); r == nil || strings.Contains(r["Status"], "Old secret") {
		t.Errorf("row after Now = %v", r)
	}
	for name, s := range map[string]string{"first": secret1, "second": secret2} {
		if tok := a.token(t, id, s); tok.Status != 401 || tok.Error != "invalid_client" {
			t.Errorf("%s secret after rolling with Now: %+v, want 401 invalid_client", name, tok)
		}
	}
	if tok := a.token(t, id, secret3); tok.Status != 200 {
		t.Errorf("newest secret: %+v", tok)
	}
}

// TestBrowserExpiry: Create API Credentials takes an expiry date; the
// table warns within a week and shows Expired after.
func TestBrowserExpiry(t *testing.T) {
	b := newBrowser(t)
	// The instance's clock stands still until the test moves it.
	clk := servertest.NewClock()
	env := servertest.New(t, sqlite, servertest.WithClock(clk))
	a := &app{URL: env.URL, APIURL: env.URL, Env: env}
	o := a.customer(t, "Acme Logistics", "alice@acme.test")
	// Credentials that expire in a moment, made the way the API makes them.
	soon, err := a.Env.Server.Credentials.Create(t.Context(), access.CLI, credential.CreateRequest{
		OrgID: o.ID, Name: "Short lived", ExpiresAt: clk.Now().Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	b.login(a.URL, "alice@acme.test", testPassword)
	b.open(a.URL + "/credentials")
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	b.fill("Name", "Contractor access", d)
	b.do("open the expiry", chromedpClickCSS(`#create-dialog details.more > summary`))
	expires := time.Now().UTC().AddDate(0, 0, 5).Format(time.DateOnly)
	b.do("choose the date", chromedpSelect("#create-expires", expires))
	b.fill("Allowed IP addresses (optional)", "127.0.0.1\n::1", d)
	b.shot("create-with-expiry")
	b.click("button", "Create", d)
	d = b.dialog("API Credentials")
	clientID, secret := b.value("Client ID", d), b.value("Secret", d)
	b.click("button", "Close", d)
	b.waitGone("#secret-dialog")

	r := row(b.tableRows("Current API Credentials"), "Contractor access")
	if r == nil || !strings.Contains(r["Status"], "Expires in 4 days") || !strings.Contains(r["Permissions"], "Only from 127.0.0.1/32, ::1/128") {
		t.Errorf("row = %v, want the badge Expires in 4 days and the allowed addresses", r)
	}
	b.find("button", "Roll secret of Contractor access")
	if tok := a.token(t, clientID, secret); tok.Status != 200 {
		t.Errorf("token from an allowed address: %+v", tok)
	}
	b.shot("expires-soon")

	// The short-lived credentials expire: Expired, with nothing to do but
	// Revoke, and the token endpoint refuses them.
	clk.Add(3 * time.Second)
	b.open(a.URL + "/credentials")
	r = row(b.tableRows("Current API Credentials"), "Short lived")
	if r == nil || !strings.HasPrefix(r["Status"], "Expired") {
		t.Errorf("row after expiry = %v", r)
	}
	b.absent("button", "Roll secret of Short lived")
	b.absent("button", "Edit Short lived")
	b.find("button", "Revoke Short lived")
	b.shot("expired")
	if tok := a.token(t, soon.Credential.ClientID, soon.Secret); tok.Status != 401 {
		t.Errorf("token of expired credentials: %+v", tok)
	}
}
