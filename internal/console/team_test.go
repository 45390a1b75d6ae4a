package console_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// makeOwner gives u the owner flag of their organisation.
func (h *harness) makeOwner(t *testing.T, u store.User) store.User {
	t.Helper()
	yes := true
	u, err := h.Users.Update(t.Context(), access.CLI, u.ID, user.UpdateRequest{Owner: &yes})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestTeamIsolation: an owner's Team reaches their organisation's Customer
// users only. Forged forms naming another organisation's user, an Admin,
// the Admin role or another organisation are refused and change nothing;
// a Customer who owns nothing gets no Team page; /admin stays Admin-only.
func TestTeamIsolation(t *testing.T) {
	h := newHarness(t, sqlite)
	acme, beta := h.org(t, "Acme"), h.org(t, "Beta")
	admin := h.user(t, "root@sapient.test", "")
	olga := h.makeOwner(t, h.user(t, "olga@acme.test", acme.ID))
	max := h.user(t, "max@acme.test", acme.ID)
	bea := h.user(t, "bea@beta.test", beta.ID)
	owner := h.client(t)
	owner.login(olga.Email)

	r := owner.get("/team")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "max@acme.test") || strings.Contains(r.Body, "bea@beta.test") || strings.Contains(r.Body, "root@sapient.test") {
		t.Fatalf("Team = %d, want Acme's users only\n%s", r.Status, r.Body)
	}
	if !strings.Contains(owner.get("/").Body, `href="/team"`) {
		t.Error("an owner's navigation has no Team")
	}

	// Another organisation's user and an Admin answer like an unknown one.
	unknown := owner.post("/team/usr_nobody/disable", url.Values{})
	for _, id := range []string{bea.ID, admin.ID} {
		for _, verb := range []string{"disable", "enable"} {
			r := owner.post("/team/"+id+"/"+verb, url.Values{})
			if r.Status != unknown.Status || r.Body != unknown.Body {
				t.Errorf("%s %s: %d, want the answer to an unknown user (%d)", verb, id, r.Status, unknown.Status)
			}
		}
	}
	if unknown.Status != http.StatusNotFound {
		t.Errorf("unknown user = %d, want 404", unknown.Status)
	}
	// Forged invitations: an Admin, another organisation.
	for _, form := range []url.Values{
		{"email": {"evil@acme.test"}, "role": {"admin"}},
		{"email": {"evil@acme.test"}, "role": {"customer"}, "org": {beta.ID}},
	} {
		if r := owner.post("/team/invite", form); r.Status != http.StatusForbidden {
			t.Errorf("forged invite %v = %d, want 403", form, r.Status)
		}
	}
	if _, err := h.Store.GetUserByEmail(t.Context(), "evil@acme.test"); err == nil {
		t.Error("a forged invitation created a user")
	}
	// Admin pages stay Admin-only.
	for _, p := range []string{"/admin/users/" + max.ID + "/disable", "/admin/users/" + bea.ID + "/delete", "/admin/users/invite", "/admin/users/" + max.ID} {
		if r := owner.post(p, url.Values{"email": {"evil@acme.test"}, "role": {"admin"}}); r.Status != http.StatusForbidden {
			t.Errorf("owner POST %s = %d, want 403", p, r.Status)
		}
	}
	for _, u := range []store.User{admin, bea, max} {
		got, _ := h.Store.GetUser(t.Context(), u.ID)
		if got.Disabled() || got.Role != u.Role || got.OrgID != u.OrgID {
			t.Errorf("%s changed: %+v", u.Email, got)
		}
	}

	// The owner disables and enables a member of the team.
	memberBrowser := h.client(t)
	memberBrowser.login(max.Email)
	if r := owner.post("/team/"+max.ID+"/disable", url.Values{}); r.Status != http.StatusSeeOther {
		t.Fatalf("disable member = %d\n%s", r.Status, r.Body)
	}
	if memberBrowser.loggedIn() {
		t.Error("the disabled member's session still works")
	}
	if r := owner.post("/team/"+max.ID+"/enable", url.Values{}); r.Status != http.StatusSeeOther {
		t.Fatalf("enable member = %d", r.Status)
	}
	// An owner invites into their organisation; the link is shown once.
	r = owner.post("/team/invite", url.Values{"email": {"new@acme.test"}})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "/link?token=") {
		t.Fatalf("team invite = %d\n%s", r.Status, r.Body)
	}
	if u, err := h.Store.GetUserByEmail(t.Context(), "new@acme.test"); err != nil || u.OrgID != acme.ID || u.Role != store.RoleCustomer {
		t.Errorf("invited = %+v, %v", u, err)
	}

	// A member who owns nothing has no Team.
	if r := memberBrowser.get("/team"); r.Status != http.StatusForbidden {
		memberBrowser.login(max.Email)
		if r := memberBrowser.get("/team"); r.Status != http.StatusForbidden {
			t.Errorf("non-owner /team = %d, want 403", r.Status)
		}
	}
	if r := memberBrowser.post("/team/invite", url.Values{"email": {"x@acme.test"}}); r.Status != http.StatusForbidden {
		t.Errorf("non-owner invite = %d, want 403", r.Status)
	}
	if strings.Contains(memberBrowser.get("/").Body, `href="/team"`) {
		t.Error("a non-owner's navigation shows Team")
	}

	// An Admin ends every session of a user at once; an owner may not here.
	if r := owner.post("/admin/users/"+max.ID+"/sessions/end", url.Values{}); r.Status != http.StatusForbidden {
		t.Errorf("owner ends sessions via /admin = %d, want 403", r.Status)
	}
	adminC := h.client(t)
	adminC.login(admin.Email)
	if r := adminC.post("/admin/users/"+max.ID+"/sessions/end", url.Values{}); r.Status != http.StatusSeeOther {
		t.Fatalf("end sessions = %d", r.Status)
	}
	if memberBrowser.loggedIn() {
		t.Error("the member's session survived End all sessions")
	}
	if ev, _ := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "user.sessions_ended", Limit: 5}); len(ev) != 1 || ev[0].Target != max.Email {
		t.Errorf("user.sessions_ended = %+v", ev)
	}
}

var linkInPage = regexp.MustCompile(`value="(http[^"]+/link\?token=[^"]+)"`)

// linkOf is the one-time link shown on a page.
func linkOf(t *testing.T, body string) string {
	t.Helper()
	m := linkInPage.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link on the page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

// TestLinkBadInput: a tampered, used or expired link, or a link of one
// user opened while logged in as another, gets a clear message and
// changes nothing; the Admin's lifecycle actions refuse the last Admin.
func TestLinkBadInput(t *testing.T) {
	h := newHarness(t, sqlite)
	acme := h.org(t, "Acme")
	h.user(t, "root@sapient.test", "")
	ann := h.user(t, "ann@acme.test", acme.ID)
	bob := h.user(t, "bob@acme.test", acme.ID)
	admin := h.client(t)
	admin.login("root@sapient.test")

	if r := admin.get("/admin/users/" + ann.ID); r.Status != http.StatusOK || !strings.Contains(r.Body, "Save changes") || !strings.Contains(r.Body, "Make reset link") {
		t.Fatalf("user page = %d\n%s", r.Status, r.Body)
	}
	if r := admin.get("/admin/users/usr_nobody"); r.Status != http.StatusNotFound {
		t.Errorf("unknown user page = %d, want 404", r.Status)
	}
	r := admin.post("/admin/users/"+ann.ID+"/reset-link", url.Values{})
	if r.Status != http.StatusOK {
		t.Fatalf("reset link = %d\n%s", r.Status, r.Body)
	}
	link := linkOf(t, r.Body)
	u, _ := url.Parse(link)
	path := u.RequestURI()
	token := u.Query().Get("token")

	anon := h.client(t)
	for _, tt := range []struct {
		name, path string
		status     int
		want       string
	}{
		{"tampered", "/link?token=" + url.QueryEscape("x"+token[1:]), http.StatusNotFound, "This link is not valid."},
		{"empty", "/link", http.StatusNotFound, "This link is not valid."},
		{"huge", "/link?token=" + strings.Repeat("a", 5000), http.StatusNotFound, "This link is not valid."},
	} {
		if r := anon.get(tt.path); r.Status != tt.status || !strings.Contains(r.Body, tt.want) {
			t.Errorf("%s: %d, want %d with %q", tt.name, r.Status, tt.status, tt.want)
		}
	}
	// Bob, logged in, opens Ann's link, and forges its form.
	bobC := h.client(t)
	bobC.login(bob.Email)
	if r := bobC.get(path); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "for another account") {
		t.Errorf("Bob opens Ann's link: %d", r.Status)
	}
	if r := bobC.post("/link", url.Values{"token": {token}, "password": {"bob sets ann's pw"}, "confirm": {"bob sets ann's pw"}}); r.Status != http.StatusForbidden {
		t.Errorf("Bob posts Ann's link: %d", r.Status)
	}
	if got, _ := h.Store.GetUser(t.Context(), ann.ID); got.PasswordHash != ann.PasswordHash {
		t.Error("Bob changed Ann's password")
	}
	if ev, _ := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "link.refused", Limit: 5}); len(ev) != 1 {
		t.Errorf("link.refused events: %d, want 1", len(ev))
	}
	// Passwords that differ or are short: the form again, link unused.
	if r := anon.post("/link", url.Values{"token": {token}, "password": {"one long password"}, "confirm": {"another long one"}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "The two passwords differ.") {
		t.Errorf("differing passwords: %d", r.Status)
	}
	if r := anon.post("/link", url.Values{"token": {token}, "password": {"short"}, "confirm": {"short"}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "at least") {
		t.Errorf("short password: %d", r.Status)
	}
	// Ann's open session ends when she sets her password through the link.
	annOld := h.client(t)
	annOld.login(ann.Email)
	annNew := h.client(t)
	if r := annNew.get(path); r.Status != http.StatusOK || !strings.Contains(r.Body, "ann@acme.test") {
		t.Fatalf("Ann opens her link: %d", r.Status)
	}
	if r := annNew.post("/link", url.Values{"token": {token}, "password": {"ann's new password"}, "confirm": {"ann's new password"}}); r.Status != http.StatusSeeOther || annNew.Cookie == "" {
		t.Fatalf("Ann sets her password: %d\n%s", r.Status, r.Body)
	}
	if !annNew.loggedIn() || annOld.loggedIn() {
		t.Error("after the reset Ann should be logged in here and out elsewhere")
	}
	if r := anon.get(path); r.Status != http.StatusGone || !strings.Contains(r.Body, "already been used") {
		t.Errorf("used link: %d", r.Status)
	}
	// An expired link.
	r = admin.post("/admin/users/"+bob.ID+"/reset-link", url.Values{})
	expired := linkOf(t, r.Body)
	h.Clock.Advance(user.ResetValid + time.Second)
	admin.login("root@sapient.test")
	eu, _ := url.Parse(expired)
	if r := anon.get(eu.RequestURI()); r.Status != http.StatusGone || !strings.Contains(r.Body, "This link has expired.") {
		t.Errorf("expired link: %d", r.Status)
	}

	// The last active Admin: neither disabled, demoted nor deleted.
	root, _ := h.Store.GetUserByEmail(t.Context(), "root@sapient.test")
	other := h.client(t)
	second := h.user(t, "second@sapient.test", "")
	other.login(second.Email)
	if r := other.post("/admin/users/"+root.ID+"/disable", url.Values{}); r.Status != http.StatusSeeOther {
		t.Fatalf("disable one of two Admins = %d", r.Status)
	}
	if admin.loggedIn() {
		t.Error("the disabled Admin's session still works")
	}
	if r := other.post("/admin/users/"+second.ID+"/disable", url.Values{}); r.Status != http.StatusConflict {
		t.Errorf("Admin disables self = %d, want 409", r.Status)
	}
	if r := other.post("/admin/users/"+second.ID, url.Values{"role": {"customer"}, "org": {acme.ID}}); r.Status != http.StatusConflict || !strings.Contains(r.Body, "last active Admin") {
		t.Errorf("demote the last active Admin = %d, want 409", r.Status)
	}
	if r := other.get("/admin/users/" + root.ID + "/delete"); r.Status != http.StatusOK || !strings.Contains(r.Body, "Delete <strong>root@sapient.test</strong>?") {
		t.Errorf("delete confirmation = %d", r.Status)
	}
	if r := other.post("/admin/users/"+root.ID+"/delete", url.Values{}); r.Status != http.StatusSeeOther {
		t.Errorf("delete the disabled Admin = %d", r.Status)
	}
	if ev, _ := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "user.deleted", Limit: 5}); len(ev) != 1 || ev[0].Target != "root@sapient.test" || ev[0].ActorLabel != second.Email {
		t.Errorf("user.deleted = %+v", ev)
	}
}

// TestDisableEverywhere: a disable on one instance ends the user's
// session on another at once: sessions are read from the shared database
// on every request. Their organisation's credentials keep working.
func TestDisableEverywhere(t *testing.T) {
	pg := storetest.Backend{Name: "postgres", URL: storetest.PostgresURL}
	a := servertest.New(t, pg)
	b := a.Join(t)
	acme := a.Org(t, "Acme")
	ann := a.User(t, "ann@acme.test", testPassword, store.RoleCustomer, acme.ID)
	cred := a.Credential(t, acme.ID, "billing", nil)

	onB := &client{t: t, base: b.URL, http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	onB.login(ann.Email)
	if !onB.loggedIn() {
		t.Fatal("not logged in on B")
	}
	admin := &client{t: t, base: a.URL, http: onB.http}
	if r := admin.post("/login", url.Values{"email": {servertest.AdminEmail}, "password": {servertest.AdminPassword}}); r.Status != http.StatusSeeOther {
		t.Fatalf("admin login on A = %d", r.Status)
	}
	if r := admin.post("/admin/users/"+ann.ID+"/disable", url.Values{}); r.Status != http.StatusSeeOther {
		t.Fatalf("disable on A = %d\n%s", r.Status, r.Body)
	}
	if r := onB.get("/credentials"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("B after the disable on A = %d %s, want a redirect to /login", r.Status, r.Header.Get("Location"))
	}
	app := &app{URL: b.URL, APIURL: b.URL, Env: b}
	if tr := app.token(t, cred.Credential.ClientID, cred.Secret); tr.Status != http.StatusOK {
		t.Errorf("the organisation's credential after the disable: %d %s", tr.Status, tr.Error)
	}
}
