package console_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
)

// docsEnv names the folder that receives the README's screenshots, for
// example docs/screenshots (relative to the repository root).
const docsEnv = "SAPIENT_DOCS_SCREENSHOTS"

// TestDocsScreenshots renders the pictures of the README: login.png,
// home.png, credentials.png, create-dialog.png, secret-dialog.png and
// usage.png. It
// runs only when SAPIENT_DOCS_SCREENSHOTS names the folder to write to:
//
//	SAPIENT_DOCS_SCREENSHOTS=$PWD/docs/screenshots go test -run TestDocsScreenshots ./internal/console/
func TestDocsScreenshots(t *testing.T) {
	dir := os.Getenv(docsEnv)
	if dir == "" {
		t.Skipf("set %s to a folder to render the README's screenshots", docsEnv)
	}
	// The pages show the token endpoint of a default installation.
	env := servertest.New(t, sqlite, func(c *server.Config) {
		c.Issuer, c.FlushInterval = "http://localhost:8080", 50*time.Millisecond
	})
	a := &app{URL: env.URL, APIURL: env.URL, Env: env}
	o := a.customer(t, "Acme Logistics", "alice@acme.test")
	b := newBrowser(t)
	b.always = true
	b.viewport(1280, 800)
	save := func(name string) {
		t.Helper()
		shot := b.shot(name)
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	b.open(a.URL + "/login")
	b.fill("Email", "alice@acme.test")
	save("login")
	b.fill("Password", testPassword)
	b.click("button", "Log in")
	b.waitURL("/")
	save("home")

	// Some history, as after a few weeks of use.
	used := a.Env.Credential(t, o.ID, "Warehouse sync", []string{"credentials:read", "usage:read"})
	if tok := a.token(t, used.Credential.ClientID, used.Secret); tok.Status != 200 {
		t.Fatalf("token = %+v", tok)
	}
	old := a.Env.Credential(t, o.ID, "Legacy importer", []string{"credentials:read"})
	if _, err := a.Env.Server.Credentials.Revoke(t.Context(), access.CLI, old.Credential.ClientID); err != nil {
		t.Fatal(err)
	}

	b.open(a.URL + "/credentials")
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	b.fill("Name", "Billing service", d)
	save("create-dialog")
	b.click("button", "Create", d)
	b.dialog("API Credentials")
	save("secret-dialog")
	b.click("button", "Close")
	b.waitGone("#secret-dialog")
	b.waitText("Just now") // the token above, once usage is written
	b.do("move the mouse away", mouseAway())
	save("credentials")

	// A day of traffic, the same every time the pictures are made.
	hour := time.Now().UTC().Truncate(time.Hour)
	var day []store.UsageBucket
	for i := range 24 {
		at := hour.Add(time.Duration(i-23) * time.Hour)
		busy := int64(30 + 6*(12-abs(at.Hour()-13)) + 5*(i%3)) // busiest around 13:00 UTC
		day = append(day, store.UsageBucket{ClientID: used.Credential.ClientID, OrgID: o.ID, Hour: at,
			TokensIssued: busy, TokensRefused: int64(i%7) / 5, APICalls: busy * 23, APIRefused: int64(i%5) / 4 * 3})
	}
	if err := a.Env.Store.AddUsage(t.Context(), day); err != nil {
		t.Fatal(err)
	}
	b.click("link", "Usage", b.find("navigation", "Main"))
	b.waitURL("/usage")
	b.do("move the mouse away", mouseAway())
	save("usage")
	t.Logf("screenshots written to %s", dir)
}

func abs(n int) int { return max(n, -n) }
