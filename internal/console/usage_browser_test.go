package console_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/user"
)

// TestBrowserUsage: after software obtains tokens and calls the API,
// API > Usage shows the exact counts as totals, as charts exposed as
// images with a description, in a table for screen readers, and per
// credential with the address it was last used from.
func TestBrowserUsage(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	o := a.customer(t, "Acme Logistics", "alice@acme.test")
	a.customer(t, "Beta Freight", "bob@beta.test")
	billing := a.Env.Credential(t, o.ID, "Billing service", nil)
	export := a.Env.Credential(t, o.ID, "Nightly export", nil)
	id := billing.Credential.ClientID
	for range 7 {
		tok := a.token(t, id, billing.Secret)
		if tok.Status != 200 {
			t.Fatalf("token = %+v", tok)
		}
		for range 2 {
			if status, _ := a.me(t, tok.AccessToken); status != 200 {
				t.Fatalf("/api/v1/me = %d", status)
			}
		}
	}
	for range 3 {
		// A well-formed secret, but not this credential's.
		if tok := a.token(t, id, export.Secret); tok.Status != 401 {
			t.Fatalf("wrong secret: %+v", tok)
		}
	}
	if err := a.Env.Server.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	b.login(a.URL, "alice@acme.test", testPassword)
	nav := b.find("navigation", "Main")
	b.click("link", "Usage", nav)
	b.waitURL("/usage")
	b.find("heading", "Usage")
	totals := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll('.total')].map(d => [d.querySelector('dt').textContent, d.querySelector('dd').textContent]))`)
	for k, want := range map[string]string{"Tokens issued": "7", "Token requests refused": "3", "API calls": "14", "API calls refused": "0"} {
		if totals[k] != want {
			t.Errorf("%s = %q, want %s", k, totals[k], want)
		}
	}
	// The charts are images named by their title and described.
	img := b.find("image", "Tokens per hour, the last 24 hours")
	desc := eval[string](b, `document.getElementById('tokens-desc').textContent`)
	if !strings.Contains(desc, "7 tokens issued and 3 token requests refused in the last 24 hours.") {
		t.Errorf("the tokens chart is described as %q", desc)
	}
	_ = img
	b.find("image", "API calls per hour, the last 24 hours")
	if n := eval[int](b, `document.querySelectorAll('#tokens-caption + svg rect.part-a').length`); n != 1 {
		t.Errorf("the tokens chart has %d bars of issued tokens, want 1 (this hour)", n)
	}
	// The same numbers for screen readers, in a table.
	b.find("table", "Usage by hour")
	series := b.tableRows("Usage by hour")
	var hourRows int
	for _, r := range series {
		if r["Tokens issued"] == "7" && r["Token requests refused"] == "3" && r["API calls"] == "14" {
			hourRows++
		}
	}
	if len(series) != 24 || hourRows != 1 {
		t.Errorf("the hourly table has %d rows, %d of them with this hour's counts; want 24 and 1", len(series), hourRows)
	}
	rows := b.tableRows("Usage by credential")
	if r := row(rows, "Billing service"); r == nil || r["Tokens issued"] != "7" || r["Token requests refused"] != "3" || r["API calls"] != "14" ||
		!strings.Contains(r["Last used"], "from 127.0.0.1") {
		t.Errorf("Billing service = %v", r)
	}
	if r := row(rows, "Nightly export"); r == nil || r["Tokens issued"] != "0" || r["Last used"] != "Never" {
		t.Errorf("Nightly export = %v", r)
	}
	if strings.Contains(b.html(), "Beta") {
		t.Error("the page mentions another organisation")
	}
	b.shot("usage-24h")

	// The period switch works without script: it is a set of links.
	b.click("link", "30 days")
	b.waitText("in the last 30 days")
	b.find("image", "Tokens per day, the last 30 days")
	if n := len(b.tableRows("Usage by day")); n != 30 {
		t.Errorf("the daily table has %d rows, want 30", n)
	}
	b.shot("usage-30d")

	// One credential, from the table.
	b.click("link", "Billing service")
	b.waitText("How the API credentials Billing service were used")
	if rows := b.tableRows("Usage by credential"); len(rows) != 1 {
		t.Errorf("filtered to one credential, the table has %d rows", len(rows))
	}

	// The credentials table shows the last use and its address.
	b.click("link", "Credentials", b.find("navigation", "Main"))
	b.waitURL("/credentials")
	if r := row(b.tableRows("Current API Credentials"), "Billing service"); r == nil || !strings.Contains(r["Last used"], "from 127.0.0.1") {
		t.Errorf("credentials row = %v", r)
	}
}

// TestBrowserAuditLog: an Admin's audit log shows a customer's login and
// the credentials she created; her Activity page shows them too, and
// nothing of another organisation.
func TestBrowserAuditLog(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	a.customer(t, "Acme Logistics", "alice@acme.test")
	a.customer(t, "Beta Freight", "bob@beta.test")

	b.login(a.URL, "bob@beta.test", testPassword)
	b.do("open the user menu", chromedpClickCSS(`details.user-menu > summary`))
	b.click("button", "Log out")
	b.waitURL("/login")

	b.login(a.URL, "alice@acme.test", testPassword)
	b.open(a.URL + "/credentials")
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	b.fill("Name", "Billing service", d)
	b.click("button", "Create", d)
	d = b.dialog("API Credentials")
	clientID, secret := b.value("Client ID", d), b.value("Secret", d)
	b.click("button", "Close", d)
	b.waitGone("#secret-dialog")

	b.click("link", "Activity", b.find("navigation", "Main"))
	b.waitURL("/activity")
	rows := b.tableRows("Activity")
	actions := map[string]map[string]string{}
	for _, r := range rows {
		actions[strings.SplitN(r["Action"], " ", 3)[0]+" "+strings.SplitN(r["Action"], " ", 3)[1]] = r
	}
	if r := actions["Logged in"]; r == nil || !strings.HasPrefix(r["Actor"], "alice@acme.test from 127.0.0.1") {
		t.Errorf("Activity: login = %v", r)
	}
	if r := actions["Credentials created"]; r == nil || r["Target"] != "Billing service "+clientID {
		t.Errorf("Activity: create = %v", r)
	}
	if html := b.html(); strings.Contains(html, "bob@beta.test") || strings.Contains(html, secret) {
		t.Error("Activity shows another organisation's events or the secret")
	}
	b.shot("activity")
	b.do("open the user menu", chromedpClickCSS(`details.user-menu > summary`))
	b.click("button", "Log out")
	b.waitURL("/login")

	b.login(a.URL, servertest.AdminEmail, servertest.AdminPassword)
	b.click("link", "Audit log", b.find("navigation", "Main"))
	b.waitURL("/admin/audit")
	found := map[string]bool{}
	for _, r := range b.tableRows("Audit log") {
		switch {
		case strings.HasPrefix(r["Action"], "Logged in") && strings.HasPrefix(r["Actor"], "alice@acme.test") && r["Organisation"] == "Acme Logistics":
			found["alice's login"] = true
		case strings.HasPrefix(r["Action"], "Logged in") && strings.HasPrefix(r["Actor"], "bob@beta.test"):
			found["bob's login"] = true
		case strings.HasPrefix(r["Action"], "Credentials created") && strings.HasPrefix(r["Actor"], "alice@acme.test") && strings.HasPrefix(r["Target"], "Billing service"):
			found["the create"] = true
		}
	}
	for _, what := range []string{"alice's login", "bob's login", "the create"} {
		if !found[what] {
			t.Errorf("the audit log lacks %s", what)
		}
	}
	if strings.Contains(b.html(), secret) {
		t.Error("the audit log shows the secret")
	}
	b.shot("audit-log")

	// Filters: one action.
	b.do("choose an action", chromedpSelect("#audit-action", "credential.created"))
	b.click("button", "Filter")
	if err := b.waitFor(`location.search.includes("action=credential.created") && document.readyState === "complete"`); err != nil {
		t.Fatal(err)
	}
	for _, r := range b.tableRows("Audit log") {
		if !strings.HasPrefix(r["Action"], "Credentials created") {
			t.Errorf("filtered on creates, the log shows %v", r)
		}
	}
	b.shot("audit-log-filtered")
}

// TestBrowserLoginThrottle: after repeated failures the login page says to
// wait, whether or not the email exists, and lets nobody in meanwhile.
func TestBrowserLoginThrottle(t *testing.T) {
	b := newBrowser(t)
	// The server's clock stands still, so that the delays do not pass
	// while the browser types.
	clk := &clock{now: time.Now().UTC()}
	env := servertest.New(t, sqlite, func(c *server.Config) { c.Now = clk.Now })
	a := &app{URL: env.URL, APIURL: env.URL, Env: env}
	a.customer(t, "Acme Logistics", "alice@acme.test")
	attempt := func(email, password string) string {
		t.Helper()
		b.open(a.URL + "/login")
		b.fill("Email", email)
		b.fill("Password", password)
		b.click("button", "Log in")
		b.find("alert", "")
		return clean(eval[string](b, `document.querySelector('[role=alert]').innerText`))
	}
	for _, email := range []string{"alice@acme.test", "nobody@acme.test"} {
		// The first failure in the browser, the others from a plain HTTP
		// client on the same address, which the throttle counts alike.
		if msg := attempt(email, "not the password at all"); msg != "Email or password is incorrect." {
			t.Fatalf("%s: first failure says %q", email, msg)
		}
		for i := 1; i < user.DefaultAccountFree; i++ {
			resp, err := http.PostForm(a.URL+"/login", url.Values{"email": {email}, "password": {"not the password at all"}})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "Email or password is incorrect.") {
				t.Fatalf("%s: failure %d answered %d without the wrong-password message", email, i+1, resp.StatusCode)
			}
		}
		// Now even the right password waits, with the same answer for an
		// email that exists and one that does not.
		if msg := attempt(email, testPassword); msg != "Too many attempts. Try again in 1 second." {
			t.Errorf("%s: message = %q", email, msg)
		}
		if got := b.value("Email"); got != email {
			t.Errorf("%s: Email after the refusal = %q, want it kept", email, got)
		}
		b.shot("throttled-" + strings.SplitN(email, "@", 2)[0])
		b.open(a.URL + "/credentials")
		b.waitURL("/login")
	}
	// Once the delay has passed the right password works.
	clk.Advance(time.Second)
	b.login(a.URL, "alice@acme.test", testPassword)
}
