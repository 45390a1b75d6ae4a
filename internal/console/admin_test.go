package console_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/store"
)

func TestAdminPages(t *testing.T) {
	h := newHarness(t, sqlite)
	h.user(t, "root@sapient.test", "")
	c := h.client(t)
	c.login("root@sapient.test")

	t.Run("customers", func(t *testing.T) {
		r := c.post("/admin/customers", url.Values{"name": {"Acme"}, "scope": {"credentials:read", "usage:read"}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("create = %d\n%s", r.Status, r.Body)
		}
		o, err := h.Store.GetOrgByName(t.Context(), "Acme")
		if err != nil || !slices.Equal(o.Scopes, []string{"credentials:read", "usage:read"}) {
			t.Fatalf("Acme = %+v, %v; want the two chosen scopes", o, err)
		}
		if r := c.get(r.Header.Get("Location")); !strings.Contains(r.Body, "Customer “Acme” created.") {
			t.Error("no confirmation")
		}
		refused := []struct {
			name string
			form url.Values
			want string
		}{
			{"duplicate", url.Values{"name": {"ACME"}}, "already exists"},
			{"empty", url.Values{"name": {" "}}, "Name is required"},
			{"Admin-only scope", url.Values{"name": {"Beta"}, "scope": {"sapient:introspect"}}, "Unknown permission “sapient:introspect”."},
		}
		for _, tt := range refused {
			r := c.post("/admin/customers", tt.form)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, tt.want) {
				t.Errorf("%s: = %d, want 422 with %q", tt.name, r.Status, tt.want)
			}
		}
		// Editing replaces the set of scopes.
		if r := c.get("/admin/customers/" + o.ID); r.Status != http.StatusOK || !strings.Contains(r.Body, "Save permissions") {
			t.Fatalf("edit page = %d", r.Status)
		}
		if r := c.post("/admin/customers/"+o.ID, url.Values{"scope": {"audit:read"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("save = %d", r.Status)
		}
		if o, _ := h.Store.GetOrg(t.Context(), o.ID); !slices.Equal(o.Scopes, []string{"audit:read"}) {
			t.Errorf("scopes after edit = %v", o.Scopes)
		}
		if r := c.post("/admin/customers/org_nope", url.Values{"scope": {"audit:read"}}); r.Status != http.StatusNotFound {
			t.Errorf("edit unknown = %d, want 404", r.Status)
		}
	})

	t.Run("users", func(t *testing.T) {
		o, err := h.Store.GetOrgByName(t.Context(), "Acme")
		if err != nil {
			t.Fatal(err)
		}
		refused := []struct {
			name string
			form url.Values
			want string
		}{
			{"customer without organisation", url.Values{"email": {"a@acme.test"}, "role": {"customer"}, "password": {testPassword}}, "A customer user belongs to an organisation."},
			{"unknown organisation", url.Values{"email": {"a@acme.test"}, "role": {"customer"}, "org": {"org_nope"}, "password": {testPassword}}, "A customer user belongs to an organisation."},
			{"short password", url.Values{"email": {"a@acme.test"}, "role": {"customer"}, "org": {o.ID}, "password": {"short"}}, "at least 12 characters"},
			{"bad email", url.Values{"email": {"not an email"}, "role": {"customer"}, "org": {o.ID}, "password": {testPassword}}, "Enter a valid email address."},
		}
		for _, tt := range refused {
			r := c.post("/admin/users", tt.form)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, tt.want) {
				t.Errorf("%s: = %d, want 422 with %q", tt.name, r.Status, tt.want)
			}
			if strings.Contains(r.Body, testPassword) {
				t.Errorf("%s: the password is sent back", tt.name)
			}
		}
		r := c.post("/admin/users", url.Values{"email": {"a@acme.test"}, "role": {"customer"}, "org": {o.ID}, "password": {testPassword}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("create = %d\n%s", r.Status, r.Body)
		}
		u, err := h.Store.GetUserByEmail(t.Context(), "a@acme.test")
		if err != nil || u.Role != store.RoleCustomer || u.OrgID != o.ID {
			t.Fatalf("user = %+v, %v", u, err)
		}
		if !strings.Contains(c.get(r.Header.Get("Location")).Body, "User a@acme.test created.") {
			t.Error("no confirmation")
		}
		newcomer := h.client(t)
		newcomer.login("a@acme.test")
	})

	t.Run("scopes", func(t *testing.T) {
		for form, want := range map[string]string{"Shipments:Read": "Name must be", "credentials:read": "already exists"} {
			if r := c.post("/admin/scopes", url.Values{"name": {form}}); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, want) {
				t.Errorf("scope %q: = %d, want 422 with %q", form, r.Status, want)
			}
		}
		if r := c.post("/admin/scopes", url.Values{"name": {"shipments:read"}, "description": {"Read shipments"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("create = %d", r.Status)
		}
		r := c.get("/admin/scopes")
		if !strings.Contains(r.Body, "<code>shipments:read</code>") || !strings.Contains(r.Body, "Read shipments") {
			t.Error("the new scope is not listed")
		}
		// A new scope can be allowed to a customer.
		if r := c.get("/admin/customers"); !strings.Contains(r.Body, `value="shipments:read"`) {
			t.Error("the new scope is not offered to customers")
		}
	})
}
