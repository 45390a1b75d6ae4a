package console_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/mail/mailtest"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
)

// withMail starts a real SMTP server and has the instance mail through it.
func withMail(t *testing.T) (*mailtest.Server, servertest.Option) {
	t.Helper()
	smtpd := mailtest.Start(t)
	m, err := mail.New(smtpd.URL, "sapient@localhost", "")
	if err != nil {
		t.Fatal(err)
	}
	return smtpd, func(cfg *server.Config) { cfg.Mailer = m }
}

// TestBrowserPeople is the life of a person's access, in Chromium as a new
// user would live it: an Admin invites Pia, the mail arrives, Pia follows
// the link, chooses a password and logs in; the Admin makes her an owner
// and she invites a colleague from Team; the Admin disables her, and her
// open browser is logged out on its next click; re-enabled, she resets a
// forgotten password by mail.
func TestBrowserPeople(t *testing.T) {
	admin := newBrowser(t)
	smtpd, opt := withMail(t)
	env := servertest.New(t, sqlite, opt)
	acme := env.Org(t, "Acme")
	pia := admin.another()

	// The Admin invites Pia.
	admin.login(env.URL, servertest.AdminEmail, servertest.AdminPassword)
	admin.open(env.URL + "/admin/users")
	admin.fill("Email", "pia@acme.test")
	admin.do("choose Acme", chromedpSelect("#user-org", acme.ID))
	admin.shot("invite")
	admin.click("button", "Invite user")
	admin.waitText("We emailed the link to pia@acme.test.")
	admin.shot("invited")

	// The mail arrives; Pia follows its link and chooses her password.
	invite := smtpd.Wait(t, "pia@acme.test", "invited").Link()
	if invite == "" {
		t.Fatal("the invitation mail holds no link")
	}
	pia.open(invite)
	pia.waitText("Welcome to Sapient")
	pia.fill("New password", "pia's own long password")
	pia.fill("Confirm password", "pia's own long password")
	pia.click("button", "Set password")
	pia.waitURL("/")
	// The link works once.
	pia.open(invite)
	pia.waitText("This link has already been used.")

	// She logs in with it.
	pia.open(env.URL + "/")
	pia.do("open the user menu", chromedpClickCSS(`details.user-menu > summary`))
	pia.click("button", "Log out")
	pia.waitURL("/login")
	pia.login(env.URL, "pia@acme.test", "pia's own long password")
	pia.absent("link", "Team")

	// The Admin makes her an owner; she invites a colleague from Team.
	u, err := env.Store.GetUserByEmail(t.Context(), "pia@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	admin.open(env.URL + "/admin/users/" + u.ID)
	admin.do("tick Owner", chromedpClickCSS(`input[name="owner"]`))
	admin.click("button", "Save changes")
	admin.waitText("pia@acme.test was changed.")
	pia.open(env.URL + "/")
	pia.click("link", "Team")
	pia.waitURL("/team")
	pia.fill("Email", "leo@acme.test")
	pia.click("button", "Invite user")
	pia.waitText("We emailed the link to leo@acme.test.")
	pia.shot("team-invited")
	if smtpd.Wait(t, "leo@acme.test", "invited").Link() == "" {
		t.Error("the colleague's invitation holds no link")
	}
	pia.click("link", "Close")
	pia.waitURL("/team")
	pia.shot("team")
	if rows := pia.tableRows("Team"); len(rows) != 2 {
		t.Errorf("Team shows %d people, want Pia and Leo: %v", len(rows), rows)
	}

	// The Admin disables Pia; her open browser is logged out on its next click.
	admin.open(env.URL + "/admin/users")
	admin.click("button", "Disable pia@acme.test")
	admin.waitText("pia@acme.test is disabled")
	admin.shot("users")
	pia.click("link", "Credentials")
	pia.waitURL("/login")
	pia.fill("Email", "pia@acme.test")
	pia.fill("Password", "pia's own long password")
	pia.click("button", "Log in")
	pia.waitText("Email or password is incorrect.")

	// Enabled again, she has forgotten her password and resets it by mail.
	admin.click("button", "Enable pia@acme.test")
	admin.waitText("pia@acme.test is enabled")
	pia.open(env.URL + "/login")
	pia.click("link", "Forgot password?")
	pia.waitURL("/forgot")
	pia.fill("Email", "pia@acme.test")
	pia.click("button", "Send reset link")
	pia.waitText("If there is an account for pia@acme.test")
	reset := smtpd.Wait(t, "pia@acme.test", "Reset").Link()
	pia.open(reset)
	pia.waitText("Choose a new password")
	pia.fill("New password", "pia's second long password")
	pia.fill("Confirm password", "pia's second long password")
	pia.click("button", "Set password")
	pia.waitURL("/")
	pia.do("open the user menu", chromedpClickCSS(`details.user-menu > summary`))
	pia.click("button", "Log out")
	pia.waitURL("/login")
	pia.login(env.URL, "pia@acme.test", "pia's second long password")
}

// another opens a second browser context (another person's browser, with
// a profile of its own) in the Chromium of b, for the same test.
func (b *browserTab) another() *browserTab {
	t := b.t
	t.Helper()
	ctx, cancelCtx := chromedp.NewContext(chromium.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelCtx)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	dir := filepath.Join(b.dir, "second-browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o := &browserTab{t: t, ctx: tctx, dir: dir}
	o.viewport(1280, 860)
	return o
}
