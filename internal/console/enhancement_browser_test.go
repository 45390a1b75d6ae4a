package console_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"sapient.dev/sapient/internal/credential"
)

// TestBrowserWithoutScript: with JavaScript off the same story works, each
// dialog being a page of its own.
func TestBrowserWithoutScript(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	a.customer(t, "Acme Logistics", "alice@acme.test")
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	b.login(a.URL, "alice@acme.test", testPassword)
	b.open(a.URL + "/credentials")
	if eval[bool](b, `document.documentElement.classList.contains("js")`) {
		t.Fatal("script still runs")
	}

	b.click("button", "Create API Credentials")
	b.waitURL("/credentials/new")
	d := b.dialog("Create API Credentials")
	b.fill("Name", "Nightly export", d)
	b.shot("create-page")
	b.click("button", "Create", d)
	d = b.dialog("API Credentials")
	clientID, secret := b.value("Client ID", d), b.value("Secret", d)
	if err := credential.CheckSecretFormat(secret); err != nil || !strings.HasPrefix(clientID, credential.ClientIDPrefix) {
		t.Fatalf("values %q, %q: %v", clientID, secret, err)
	}
	// Copy needs script: without it the buttons are not offered, and the
	// values stay selectable.
	b.absent("button", "Copy Secret")
	b.shot("secret-page")
	b.click("button", "Close", d)
	b.waitGone("#secret-dialog")
	if strings.Contains(b.html(), secret) {
		t.Fatal("the secret is on the page after Close")
	}
	if tok := a.token(t, clientID, secret); tok.Status != 200 {
		t.Fatalf("token = %+v", tok)
	}

	// Roll secret and Edit are pages of their own too.
	b.click("button", "Roll secret of Nightly export")
	b.waitURL(fmt.Sprintf("/credentials/%s/roll", clientID))
	d = b.dialog("Roll secret")
	b.click("radio", "Now", d)
	b.shot("roll-page")
	b.click("button", "Roll secret", d)
	d = b.dialog("New secret")
	rolled := b.value("Secret", d)
	b.shot("new-secret-page")
	b.click("button", "Close", d)
	b.waitGone("#secret-dialog")
	if tok := a.token(t, clientID, secret); tok.Status != 401 {
		t.Errorf("old secret after rolling with Now: %+v", tok)
	}
	if tok := a.token(t, clientID, rolled); tok.Status != 200 {
		t.Fatalf("new secret: %+v", tok)
	}
	secret = rolled
	b.click("button", "Edit Nightly export")
	b.waitURL(fmt.Sprintf("/credentials/%s/edit", clientID))
	d = b.dialog("Edit API Credentials")
	b.fill("Allowed IP addresses (optional)", "192.0.2.0/24", d)
	b.click("button", "Save", d)
	b.waitText("Changes to API credentials “Nightly export” saved.")
	if tok := a.token(t, clientID, secret); tok.Error != "unauthorized_client" {
		t.Errorf("token from an address not allowed: %+v", tok)
	}

	b.click("button", "Revoke Nightly export")
	b.waitURL(fmt.Sprintf("/credentials/%s/revoke", clientID))
	d = b.dialog("Revoke API Credentials")
	b.shot("revoke-page")
	b.click("button", "Revoke", d)
	b.waitText("are revoked")
	if r := row(b.tableRows("Current API Credentials"), "Nightly export"); r == nil || !strings.HasPrefix(r["Status"], "Revoked") {
		t.Errorf("row = %v", r)
	}
	if tok := a.token(t, clientID, secret); tok.Status != 401 {
		t.Errorf("token after revoke = %+v", tok)
	}
}

// TestBrowserKeyboard: a person using only the keyboard logs in, opens the
// Create API Credentials dialog and leaves it, always seeing where the
// focus is.
func TestBrowserKeyboard(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	a.customer(t, "Acme Logistics", "alice@acme.test")
	focusOutline := func() string {
		return eval[string](b, `(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth; })()`)
	}
	focused := func() string {
		return eval[string](b, `document.activeElement.id || document.activeElement.textContent.trim()`)
	}
	b.open(a.URL + "/login")
	// The browser moves the focus to an autofocus field when it next
	// renders the page (HTML, "flush autofocus candidates"), which may
	// come after the load event.
	if err := b.waitFor(`document.activeElement && document.activeElement.id === "email"`); err != nil {
		t.Fatalf("focus on arrival = %q, want the Email field", focused())
	}
	b.do("type the login", chromedp.KeyEvent("alice@acme.test"), chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(testPassword), chromedp.KeyEvent(kb.Tab))
	if got := focused(); got != "Log in" {
		t.Fatalf("after two Tabs the focus is on %q, want Log in", got)
	}
	if o := focusOutline(); !strings.HasPrefix(o, "solid") {
		t.Errorf("the focused button has no visible outline: %q", o)
	}
	b.shot("focus-log-in")
	b.do("press Enter", chromedp.KeyEvent(kb.Enter))
	b.waitURL("/")

	b.open(a.URL + "/credentials")
	for i := 0; i < 30 && focused() != "Create API Credentials"; i++ {
		b.do("Tab", chromedp.KeyEvent(kb.Tab))
	}
	if got := focused(); got != "Create API Credentials" {
		t.Fatalf("Tab never reached Create API Credentials (at %q)", got)
	}
	if o := focusOutline(); !strings.HasPrefix(o, "solid") {
		t.Errorf("the focused button has no visible outline: %q", o)
	}
	b.do("press Enter", chromedp.KeyEvent(kb.Enter))
	b.dialog("Create API Credentials")
	if got := focused(); got != "create-name" {
		t.Errorf("focus in the dialog = %q, want the Name field", got)
	}
	b.shot("dialog-focus")
	b.do("press Escape", chromedp.KeyEvent(kb.Escape))
	b.absent("dialog", "Create API Credentials")
}

// TestBrowserNarrowScreen: at 375 px wide nothing but the table scrolls
// sideways, and the dialogs fit.
func TestBrowserNarrowScreen(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	o := a.customer(t, "Acme Logistics", "alice@acme.test")
	a.Env.Credential(t, o.ID, "Billing service", nil)
	b.viewport(375, 812)
	fits := func(where string) {
		t.Helper()
		if w := eval[int](b, `document.documentElement.scrollWidth`); w > 375 {
			wide := eval[[]string](b, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 376 && !e.closest('.table-wrap')).map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)`)
			t.Errorf("%s: the page is %d px wide at 375 px; too wide: %v", where, w, wide)
		}
	}
	b.open(a.URL + "/login")
	fits("login")
	b.shot("login")
	b.login(a.URL, "alice@acme.test", testPassword)
	fits("home")
	b.shot("home")
	b.open(a.URL + "/credentials")
	fits("credentials")
	b.shot("credentials")
	for _, p := range []string{"/usage", "/activity"} {
		b.open(a.URL + p)
		fits(p)
		b.shot(strings.TrimPrefix(p, "/"))
	}
	b.open(a.URL + "/credentials")
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	b.fill("Name", "Mobile app", d)
	b.click("button", "Create", d)
	b.dialog("API Credentials")
	fits("API Credentials dialog")
	if w := eval[int](b, `document.getElementById('secret-dialog').getBoundingClientRect().width`); w > 375 {
		t.Errorf("the dialog is %d px wide", w)
	}
	b.shot("secret-dialog")
}
