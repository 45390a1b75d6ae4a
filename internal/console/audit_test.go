package console_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// events lists the audit trail, oldest first.
func events(t *testing.T, s store.Store, f store.AuditFilter) []store.AuditEvent {
	t.Helper()
	list, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	return list
}

// TestAuditEventsOfPeople: what people do in the console is in the audit
// trail, with their address and browser, and never a password.
func TestAuditEventsOfPeople(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		h.user(t, "root@sapient.test", "")
		root := h.client(t)
		const ua = "Sapient-Test/1.0"
		post := func(c *client, path string, form url.Values) response {
			t.Helper()
			h.Clock.Advance(time.Second) // events in order of time
			return c.do(http.MethodPost, path, form, "User-Agent", ua)
		}
		if r := post(root, "/login", url.Values{"email": {"root@sapient.test"}, "password": {testPassword}}); r.Status != http.StatusSeeOther {
			t.Fatalf("login = %d", r.Status)
		}
		if r := post(root, "/admin/customers", url.Values{"name": {"Acme"}, "scope": {"credentials:read"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("create customer = %d", r.Status)
		}
		acme, err := h.Store.GetOrgByName(t.Context(), "Acme")
		if err != nil {
			t.Fatal(err)
		}
		post(root, "/admin/customers/"+acme.ID, url.Values{"scope": {"usage:read", "credentials:read"}})
		post(root, "/admin/customers/"+acme.ID, url.Values{"scope": {"usage:read", "credentials:read"}}) // no change, no event
		post(root, "/admin/scopes", url.Values{"name": {"shipments:read"}, "description": {"Read shipments"}})
		post(root, "/admin/users", url.Values{"email": {"alice@acme.test"}, "role": {"customer"}, "org": {acme.ID}, "password": {testPassword}})
		post(root, "/logout", nil)

		alice := h.client(t)
		const wrong = "not the password at all"
		post(alice, "/login", url.Values{"email": {"Alice@Acme.test"}, "password": {wrong}})
		post(alice, "/login", url.Values{"email": {"nobody@acme.test"}, "password": {wrong}})
		post(alice, "/login", url.Values{"email": {"alice@acme.test"}, "password": {testPassword}})
		const next = "a whole new passphrase"
		if r := post(alice, "/account/password", url.Values{"current_password": {testPassword}, "password": {next}, "confirm": {next}}); r.Status != http.StatusSeeOther {
			t.Fatalf("change password = %d", r.Status)
		}

		type want struct{ action, actor, org, target, detail string }
		wants := []want{
			{audit.LoginSucceeded, "root@sapient.test", "", "root@sapient.test", ""},
			{audit.OrgCreated, "root@sapient.test", acme.ID, acme.ID, `name "Acme"`},
			{audit.OrgUpdated, "root@sapient.test", acme.ID, acme.ID, "scopes withdrawn: audit:read credentials:write usage:read"},
			{audit.OrgUpdated, "root@sapient.test", acme.ID, acme.ID, "scopes granted: usage:read"},
			{audit.ScopeCreated, "root@sapient.test", "", "shipments:read", `description "Read shipments"`},
			{audit.UserCreated, "root@sapient.test", acme.ID, "alice@acme.test", "role customer"},
			{audit.Logout, "root@sapient.test", "", "root@sapient.test", ""},
			{audit.LoginFailed, "Alice@Acme.test", acme.ID, "Alice@Acme.test", "wrong password"},
			{audit.LoginFailed, "nobody@acme.test", "", "nobody@acme.test", "unknown email"},
			{audit.LoginSucceeded, "alice@acme.test", acme.ID, "alice@acme.test", ""},
			{audit.PasswordChanged, "alice@acme.test", acme.ID, "alice@acme.test", ""},
		}
		got := events(t, h.Store, store.AuditFilter{})[1:] // after the harness made the Admin
		// The customer and its permissions are written in one
		// transaction, at one time: their order is the IDs'.
		if len(got) > 2 && got[1].Action == audit.OrgUpdated {
			got[1], got[2] = got[2], got[1]
		}
		if len(got) != len(wants) {
			for _, e := range got {
				t.Logf("%s %s %s %q", e.Action, e.ActorLabel, e.Target, e.Detail)
			}
			t.Fatalf("%d events, want %d", len(got), len(wants))
		}
		for i, w := range wants {
			e := got[i]
			if e.Action != w.action || e.ActorLabel != w.actor || e.OrgID != w.org || e.Target != w.target || !strings.HasPrefix(e.Detail, w.detail) {
				t.Errorf("event %d = %s by %s in %q on %s: %q; want %+v", i, e.Action, e.ActorLabel, e.OrgID, e.Target, e.Detail, w)
			}
			if e.IP != "127.0.0.1" || e.UserAgent != ua {
				t.Errorf("event %d (%s) from %q %q, want the request's address and browser", i, e.Action, e.IP, e.UserAgent)
			}
			for _, secret := range []string{testPassword, wrong, next} {
				if strings.Contains(fmt.Sprintf("%+v", e), secret) {
					t.Errorf("event %d holds a password", i)
				}
			}
		}
		if got[8].ActorID != "" {
			t.Errorf("the failed login of an unknown email names user %q", got[8].ActorID)
		}
	})
}

// TestAuditPages: Admin > Audit log shows everything with filters and
// pages; Activity shows a Customer their own organisation's events only,
// whatever the query says.
func TestAuditPages(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		orgA, orgB := h.org(t, "Acme"), h.org(t, "Beta")
		h.user(t, "alice@acme.test", orgA.ID)
		h.user(t, "bob@beta.test", orgB.ID)
		h.user(t, "root@sapient.test", "")
		bob := h.client(t)
		bob.login("bob@beta.test")
		if r := bob.post("/credentials", url.Values{"name": {"Beta invoices"}}); r.Status != http.StatusOK {
			t.Fatalf("create = %d", r.Status)
		}
		alice := h.client(t)
		alice.login("alice@acme.test")
		r := alice.post("/credentials", url.Values{"name": {"Billing service"}, "scope": {"usage:read"}})
		secret := secretRE.FindString(r.Body)
		list, _ := h.Store.ListCredentials(t.Context(), store.CredentialFilter{OrgID: orgA.ID})
		id := list[0].ClientID
		r = alice.post("/credentials/"+id+"/roll", url.Values{"overlap": {"1h0m0s"}})
		secret2 := secretRE.FindString(r.Body)
		if secret == "" || secret2 == "" {
			t.Fatal("no secrets")
		}

		for _, path := range []string{"/activity", "/activity?org=" + orgB.ID, "/activity?action=credential.created&org=" + orgB.ID} {
			r := alice.get(path)
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s = %d", path, r.Status)
			}
			for _, want := range []string{"<caption>Activity</caption>", "Credentials created", "Billing service<span class=\"sub\"><code>" + id + "</code>"} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("GET %s lacks %q", path, want)
				}
			}
			for _, leak := range []string{"Beta", "bob@beta.test", "root@sapient.test", secret, secret2} {
				if strings.Contains(r.Body, leak) {
					t.Errorf("GET %s shows %q", path, leak)
				}
			}
			if secretRE.MatchString(r.Body) {
				t.Errorf("GET %s shows a secret", path)
			}
		}
		if r := alice.get("/activity?action=credential.secret_rolled"); !strings.Contains(r.Body, `<th scope="row">Secret rolled`) || strings.Contains(r.Body, `<th scope="row">Credentials created`) {
			t.Error("the action filter does not filter")
		}
		if r := alice.get("/admin/audit"); r.Status != http.StatusForbidden {
			t.Errorf("a Customer's GET /admin/audit = %d, want 403", r.Status)
		}

		root := h.client(t)
		root.login("root@sapient.test")
		if r := root.get("/activity?action=logout"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/admin/audit?action=logout" {
			t.Errorf("an Admin's GET /activity = %d %q", r.Status, r.Header.Get("Location"))
		}
		r = root.get("/admin/audit")
		for _, want := range []string{"<caption>Audit log</caption>", "bob@beta.test", "alice@acme.test", "Beta invoices", "Billing service", ">Platform<"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("the audit log lacks %q", want)
			}
		}
		if secretRE.MatchString(r.Body) {
			t.Error("the audit log shows a secret")
		}
		if r := root.get("/admin/audit?org=" + orgB.ID); strings.Contains(r.Body, "alice@acme.test") || !strings.Contains(r.Body, "bob@beta.test") {
			t.Error("the organisation filter does not filter")
		}
		day := h.Clock.Now().UTC().Format(time.DateOnly)
		tomorrow := h.Clock.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
		if r := root.get("/admin/audit?from=" + day + "&to=" + day); !strings.Contains(r.Body, "bob@beta.test") {
			t.Error("today's events are missing from a filter on today")
		}
		if r := root.get("/admin/audit?from=" + tomorrow); strings.Contains(r.Body, "bob@beta.test") || !strings.Contains(r.Body, "No event matches the filter.") {
			t.Error("a filter from tomorrow shows today's events")
		}
		for _, q := range []string{"from=yesterday", "to=2026-13-01", "from=" + tomorrow + "&to=" + day} {
			if r := root.get("/admin/audit?" + q); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `class="error-box" role="alert"`) {
				t.Errorf("?%s = %d, want 422 with a message", q, r.Status)
			}
		}
	})
}

// TestAuditPaging: pages hold every event exactly once, also when many
// share one time (the test clock stands still).
func TestAuditPaging(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "root@sapient.test", "")
	for i := range 130 {
		if _, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: o.ID, Name: fmt.Sprintf("cred %03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	root := h.client(t)
	root.login("root@sapient.test")
	rowRE := regexp.MustCompile(`cred (\d{3})<span class="sub"><code>sapci_`)
	older := regexp.MustCompile(`href="(/admin/audit\?[^"]+)">Older events`)
	seen := map[string]bool{}
	path, pages := "/admin/audit?action=credential.created", 0
	for path != "" && pages < 10 {
		pages++
		r := root.get(html.UnescapeString(path))
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s = %d", path, r.Status)
		}
		for _, m := range rowRE.FindAllStringSubmatch(r.Body, -1) {
			if seen[m[1]] {
				t.Errorf("cred %s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := older.FindStringSubmatch(r.Body); m != nil {
			path = m[1]
		}
		if pages > 1 && !strings.Contains(r.Body, ">Newest events</a>") {
			t.Error("a later page does not lead back to the newest")
		}
	}
	if len(seen) != 130 || pages != 3 {
		t.Errorf("%d events on %d pages, want 130 on 3", len(seen), pages)
	}
}
