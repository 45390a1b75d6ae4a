package console_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
)

// TestBrowserStory follows the user guide in Chromium as a first-time
// Customer: log in, Home, API > Credentials, Create API Credentials, read
// and copy the Client ID and Secret, Close, get a token with them, Revoke,
// and the token endpoint refuses them.
func TestBrowserStory(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	a.customer(t, "Acme Logistics", "alice@acme.test")

	// 1. She logs in with her own login.
	b.open(a.URL + "/")
	b.waitURL("/login")
	b.find("heading", "Log in")
	b.shot("login")
	b.fill("Email", "alice@acme.test")
	b.fill("Password", testPassword)
	b.click("button", "Log in")

	// Home greets her, nudges her to create credentials, and shows the
	// token endpoint.
	b.waitURL("/")
	b.find("heading", "Hello, alice@acme.test")
	b.find("heading", "Create your API credentials")
	if got, want := b.value("Token endpoint"), a.APIURL+"/connect/token"; got != want {
		t.Errorf("Token endpoint = %q, want %q", got, want)
	}
	b.shot("home")

	// 2. API > Credentials in the left navigation.
	nav := b.find("navigation", "Main")
	b.find("list", "API", nav)
	b.click("link", "Credentials", nav)
	b.waitURL("/credentials")
	b.find("heading", "API Credentials")
	if cur := eval[string](b, `document.querySelector('nav a[aria-current="page"]').textContent.trim()`); cur != "Credentials" {
		t.Errorf("current navigation entry = %q, want Credentials", cur)
	}
	b.find("table", "Current API Credentials")
	if rows := b.tableRows("Current API Credentials"); len(rows) != 0 {
		t.Errorf("a new organisation has rows: %v", rows)
	}
	b.waitText("No API credentials yet")
	b.shot("credentials-empty")

	// 3-4. Create API Credentials asks for a Name, with every permission
	// the organisation may grant checked.
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	boxes := b.checkboxes("create-dialog")
	if got, want := slices.Sorted(maps.Keys(boxes)), scope.DefaultGrant(); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("permissions offered = %v, want %v", got, want)
	}
	for sc, checked := range boxes {
		if !checked {
			t.Errorf("permission %s is not checked by default", sc)
		}
	}
	b.fill("Name", "Billing service", d)
	b.shot("create-dialog")
	b.click("button", "Create", d)

	// 5. The API Credentials dialog shows both values, each with Copy,
	// and warns that the secret will never be shown again.
	d = b.dialog("API Credentials")
	clientID, secret := b.value("Client ID", d), b.value("Secret", d)
	if !strings.HasPrefix(clientID, credential.ClientIDPrefix) {
		t.Errorf("Client ID = %q", clientID)
	}
	if err := credential.CheckSecretFormat(secret); err != nil {
		t.Errorf("Secret is not a Sapient secret: %v", err)
	}
	b.waitText("The secret is not stored and will never be shown again.")
	b.shot("secret-dialog")

	b.grantClipboard(a.URL)
	for _, c := range []struct{ button, want, status string }{
		{"Copy Client ID", clientID, "Client ID copied."},
		{"Copy Secret", secret, "Secret copied."},
	} {
		b.click("button", c.button, d)
		b.waitText(c.status)
		if got := eval[string](b, `navigator.clipboard.readText()`); got != c.want {
			t.Errorf("after %s the clipboard holds %q, want %q", c.button, got, c.want)
		}
	}

	// 6. Close: the credentials are in the table, and the secret is gone,
	// also after a reload.
	b.click("button", "Close", d)
	b.waitGone("#secret-dialog")
	b.waitURL("/credentials")
	b.absent("dialog", "API Credentials")
	r := row(b.tableRows("Current API Credentials"), "Billing service")
	if r == nil || r["Client ID"] != clientID || r["Status"] != "Active" || r["Last used"] != "Never" ||
		!strings.Contains(r["Created"], "by alice@acme.test") || !strings.Contains(r["Permissions"], "credentials:read") {
		t.Errorf("row = %v", r)
	}
	if strings.Contains(b.html(), secret) {
		t.Fatal("the secret is on the page after Close")
	}
	b.do("reload", chromedp.Reload())
	b.waitURL("/credentials")
	if strings.Contains(b.html(), secret) {
		t.Fatal("the secret is on the page after Close and reload")
	}
	if !b.tableFits() {
		t.Error("at 1280 px the table scrolls sideways")
	}
	b.shot("credentials")

	// 7. Her software exchanges the values for a token.
	tok := a.token(t, clientID, secret)
	if tok.Status != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 || tok.AccessToken == "" {
		t.Fatalf("token = %+v", tok)
	}

	// Revoke asks first, naming the credentials; they stay listed as
	// Revoked, and the token endpoint refuses them.
	b.click("button", "Revoke Billing service")
	d = b.dialog("Revoke API Credentials")
	if txt := clean(eval[string](b, `document.getElementById('revoke-dialog').innerText`)); !strings.Contains(txt, "Revoke the API credentials Billing service?") {
		t.Errorf("revoke confirmation says %q", txt)
	}
	b.shot("revoke-dialog")
	b.click("button", "Revoke", d)
	b.waitText("are revoked")
	r = row(b.tableRows("Current API Credentials"), "Billing service")
	if r == nil || !strings.HasPrefix(r["Status"], "Revoked") || !strings.Contains(r["Status"], "by alice@acme.test") {
		t.Errorf("row after revoke = %v", r)
	}
	b.absent("button", "Revoke Billing service")
	b.shot("revoked")
	if tok := a.token(t, clientID, secret); tok.Status != 401 || tok.Error != "invalid_client" {
		t.Errorf("token after revoke = %+v, want 401 invalid_client", tok)
	}
}
