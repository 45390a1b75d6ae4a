package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// enrolStep logs c in with the password and expects to be held for
// enrolment.
func enrolStep(t *testing.T, c *client, email string) {
	t.Helper()
	r := c.post("/login", url.Values{"email": {email}, "password": {testPassword}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/account/two-factor" {
		t.Fatalf("login of %s under the policy: %d %s", email, r.Status, r.Header.Get("Location"))
	}
}

// TestTwoFactorPolicy requires two-factor of Admins, then of one
// organisation, and walks the people it covers through enrolment at
// their next login.
func TestTwoFactorPolicy(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		acme, beta := h.org(t, "Acme"), h.org(t, "Beta")
		h.user(t, "root@sapient.test", "")
		h.user(t, "ops@sapient.test", "")
		h.user(t, "alice@acme.test", acme.ID)
		h.user(t, "bob@beta.test", beta.ID)
		root, alice := h.client(t), h.client(t)
		root.login("root@sapient.test")
		alice.login("alice@acme.test")

		// Only an Admin sets it, and only to a known value.
		if r := alice.post("/admin/two-factor", url.Values{"require": {"everyone"}}); r.Status != http.StatusForbidden {
			t.Errorf("customer sets the policy: %d", r.Status)
		}
		if r := root.post("/admin/two-factor", url.Values{"require": {"robots"}}); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("unknown policy: %d", r.Status)
		}
		if r := root.post("/admin/customers/org_nope/two-factor", url.Values{"require": {"everyone"}}); r.Status != http.StatusNotFound {
			t.Errorf("policy of an unknown customer: %d", r.Status)
		}
		if p, _ := h.Store.TwoFactorPolicy(t.Context(), ""); p != store.RequireNobody {
			t.Fatalf("refused changes changed the policy to %q", p)
		}
		if r := root.post("/admin/two-factor", url.Values{"require": {"admins"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("set policy: %d\n%s", r.Status, r.Body)
		}
		if !strings.Contains(root.get("/admin/two-factor").Body, `value="admins" checked`) {
			t.Error("policy page does not show the saved policy")
		}

		// An Admin without a second factor is held until enrolled.
		ops := h.client(t)
		enrolStep(t, ops, "ops@sapient.test")
		for _, p := range []string{"/", "/credentials", "/admin/users", "/account/password"} {
			if r := ops.get(p); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/account/two-factor" {
				t.Errorf("held login reaches %s: %d %s", p, r.Status, r.Header.Get("Location"))
			}
		}
		page := ops.get("/account/two-factor")
		if page.Status != http.StatusOK || !strings.Contains(page.Body, "Your account requires two-factor authentication") || strings.Contains(page.Body, `href="/admin/users"`) {
			t.Fatalf("enrolment page of a held login: %d\n%s", page.Status, page.Body)
		}
		held := ops.Cookie
		enrolTOTP(t, h, ops)
		if ops.Cookie == held || !ops.loggedIn() {
			t.Error("enrolment did not start a new, whole session")
		}
		if r := ops.get("/admin/users"); !strings.Contains(r.Body, `<span class="status status-active">On</span>`) {
			t.Error("Admin > Users does not show ops's two-factor as on")
		}
		// While required, the last second factor stays.
		if r := ops.post("/account/two-factor/totp/disable", url.Values{"code": {"000000"}}); r.Status != http.StatusConflict {
			t.Errorf("turning off the required factor: %d", r.Status)
		}

		// Customers are not covered by an Admins policy, but by their
		// organisation's.
		h.client(t).login("alice@acme.test")
		if r := root.post("/admin/customers/"+acme.ID+"/two-factor", url.Values{"require": {"everyone"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("set customer policy: %d", r.Status)
		}
		if !strings.Contains(root.get("/admin/customers/"+acme.ID).Body, `value="everyone" checked`) {
			t.Error("customer page does not show its policy")
		}
		enrolStep(t, h.client(t), "alice@acme.test")
		h.client(t).login("bob@beta.test")

		events, _ := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "two_factor.policy_set"})
		if len(events) != 2 {
			t.Errorf("%d policy events, want 2", len(events))
		}
	})
}

// TestAdminRemovesTwoFactor: an Admin removes the second factors of a
// person who lost them; nobody else may, nor an Admin their own.
func TestAdminRemovesTwoFactor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, storetest.Backends()[0])
	acme := h.org(t, "Acme")
	root := h.user(t, "root@sapient.test", "")
	alice := h.user(t, "alice@acme.test", acme.ID)
	h.user(t, "bob@acme.test", acme.ID)
	a, r, bob := h.client(t), h.client(t), h.client(t)
	a.login("alice@acme.test")
	enrolTOTP(t, h, a)
	r.login("root@sapient.test")
	bob.login("bob@acme.test")

	if got := bob.post("/admin/users/"+alice.ID+"/two-factor/reset", url.Values{}); got.Status != http.StatusForbidden {
		t.Errorf("a customer removes two-factor: %d", got.Status)
	}
	if got := r.post("/admin/users/usr_nope/two-factor/reset", url.Values{}); got.Status != http.StatusNotFound {
		t.Errorf("unknown user: %d", got.Status)
	}
	if got := r.post("/admin/users/"+root.ID+"/two-factor/reset", url.Values{}); got.Status != http.StatusConflict {
		t.Errorf("an Admin removes their own: %d", got.Status)
	}
	if users, _ := h.Store.TwoFactorUsers(t.Context()); !users[alice.ID] {
		t.Fatal("refused requests removed alice's two-factor")
	}
	if page := r.get("/admin/users/" + alice.ID); !strings.Contains(page.Body, "Remove two-factor") {
		t.Fatal("the user page offers no Remove two-factor")
	}
	got := r.post("/admin/users/"+alice.ID+"/two-factor/reset", url.Values{})
	if got.Status != http.StatusSeeOther {
		t.Fatalf("remove two-factor: %d\n%s", got.Status, got.Body)
	}
	if page := r.get(got.Header.Get("Location")); !strings.Contains(page.Body, "Every second factor of alice@acme.test is removed.") {
		t.Error("no notice after removing two-factor")
	}
	if n, _ := h.Store.CountRecoveryCodes(t.Context(), alice.ID); n != 0 {
		t.Errorf("%d recovery codes left", n)
	}
	h.client(t).login("alice@acme.test") // the password alone again
	events, _ := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "two_factor.disabled"})
	if len(events) != 1 || events[0].ActorLabel != "root@sapient.test" || events[0].Target != "alice@acme.test" {
		t.Errorf("two_factor.disabled events: %+v", events)
	}
}
