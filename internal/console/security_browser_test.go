package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/store"
)

// TestBrowserWrongPassword: a failed login says the same whichever field
// was wrong, keeps the email, and logs nobody in.
func TestBrowserWrongPassword(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	a.customer(t, "Acme Logistics", "alice@acme.test")
	tests := []struct{ name, email, password string }{
		{"wrong password", "alice@acme.test", "not her password at all"},
		{"unknown email", "nobody@acme.test", testPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.t = t
			b.open(a.URL + "/login")
			b.fill("Email", tt.email)
			b.fill("Password", tt.password)
			b.click("button", "Log in")
			alert := b.find("alert", "")
			if txt := clean(eval[string](b, `document.querySelector('[role=alert]').innerText`)); txt != "Email or password is incorrect." {
				t.Errorf("message = %q", txt)
			}
			_ = alert
			b.waitURL("/login")
			if got := b.value("Email"); got != tt.email {
				t.Errorf("Email after failure = %q, want it kept", got)
			}
			if got := b.value("Password"); got != "" {
				t.Error("the password was sent back to the page")
			}
			b.shot(strings.ReplaceAll(tt.name, " ", "-"))
			b.open(a.URL + "/credentials")
			b.waitURL("/login")
		})
	}
}

// TestBrowserCrossSitePostRefused: a page on another origin that posts a
// form to the console, with the victim logged in, is refused and changes
// nothing.
func TestBrowserCrossSitePostRefused(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	o := a.customer(t, "Acme Logistics", "alice@acme.test")
	victim := a.Env.Credential(t, o.ID, "Billing service", nil)
	b.login(a.URL, "alice@acme.test", testPassword)

	forms := []struct{ name, action, fields string }{
		{"create", "/credentials", `<input name="name" value="Planted by evil">`},
		{"revoke", "/credentials/" + victim.Credential.ClientID + "/revoke", ""},
		{"log out", "/logout", ""},
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, f := range forms {
			if r.URL.Path == "/"+strings.ReplaceAll(f.name, " ", "-") {
				fmt.Fprintf(w, `<!doctype html><title>Win a prize</title><form id="f" method="post" action="%s%s">%s</form><script>document.getElementById("f").submit()</script>`,
					a.URL, f.action, f.fields)
				return
			}
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(evil.Close)

	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			b.t = t
			b.open(evil.URL + "/" + strings.ReplaceAll(f.name, " ", "-"))
			b.waitText("This request came from another site and was refused.")
			b.shot("refused-" + strings.ReplaceAll(f.name, " ", "-"))
		})
	}
	list, err := a.Env.Store.ListCredentials(t.Context(), store.CredentialFilter{OrgID: o.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].RevokedAt.IsZero() {
		t.Errorf("credentials after the cross-site posts = %+v, want Billing service alone and active", list)
	}
	// The session survived the cross-site log out.
	b.t = t
	b.open(a.URL + "/credentials")
	b.waitURL("/credentials")
}

// TestBrowserNameIsText: a credential name that looks like HTML is shown as
// text in the table, the API Credentials dialog and the revoke
// confirmation; no element or script from it ever runs.
func TestBrowserNameIsText(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	a.customer(t, "Acme Logistics", "alice@acme.test")
	dialogs := b.watchJSDialogs()
	const name = `<img src=x onerror=alert(1)><b>Bold</b>`
	b.login(a.URL, "alice@acme.test", testPassword)
	b.open(a.URL + "/credentials")
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	b.fill("Name", name, d)
	b.click("button", "Create", d)
	b.dialog("API Credentials")
	if got := clean(eval[string](b, `document.querySelector('#secret-dialog strong').textContent`)); got != name {
		t.Errorf("dialog shows the name as %q", got)
	}
	b.shot("secret-dialog")
	b.click("button", "Close")
	b.waitGone("#secret-dialog")
	if r := row(b.tableRows("Current API Credentials"), name); r == nil {
		t.Errorf("no row named %q as text", name)
	}
	b.click("button", "Revoke "+name)
	b.dialog("Revoke API Credentials")
	if got := eval[string](b, `document.querySelector('[data-revoke-name]').textContent`); got != name {
		t.Errorf("revoke confirmation names %q", got)
	}
	b.shot("revoke-dialog")
	if n := eval[int](b, `document.querySelectorAll('main img, main b, dialog img, dialog b').length`); n != 0 {
		t.Errorf("the name became %d elements", n)
	}
	if got := dialogs(); len(got) != 0 {
		t.Errorf("the page ran script from the name: %v", got)
	}
}

// TestBrowserCreateErrorsInDialog: a refused create shows what to correct
// inside the Create API Credentials dialog, with what was typed and ticked
// kept.
func TestBrowserCreateErrorsInDialog(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	o := a.customer(t, "Acme Logistics", "alice@acme.test")
	a.Env.Credential(t, o.ID, "Billing service", nil)
	b.login(a.URL, "alice@acme.test", testPassword)
	b.open(a.URL + "/credentials")
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	b.fill("Name", "Billing service", d)
	b.do("untick audit:read", chromedpClickCSS(`#create-dialog input[value="audit:read"]`))
	b.click("button", "Create", d)
	d = b.dialog("Create API Credentials")
	b.waitText(`A credential named "Billing service" already exists. Choose another name.`)
	if got := b.value("Name", d); got != "Billing service" {
		t.Errorf("Name after the error = %q, want it kept", got)
	}
	if boxes := b.checkboxes("create-dialog"); boxes["audit:read"] || !boxes["usage:read"] {
		t.Errorf("permissions after the error = %v, want them as left", boxes)
	}
	if inv := eval[string](b, `document.getElementById('create-name').getAttribute('aria-invalid')`); inv != "true" {
		t.Errorf("the Name field is not marked invalid (%q)", inv)
	}
	b.shot("create-error")
	// Cancel leaves the dialog and the page that showed it.
	b.reloaded(func() { b.click("button", "Cancel", d) })
	b.waitGone("#create-dialog[open]")
	b.waitURL("/credentials")
	if rows := b.tableRows("Current API Credentials"); len(rows) != 1 {
		t.Errorf("rows = %v, want the one credential", rows)
	}
}
