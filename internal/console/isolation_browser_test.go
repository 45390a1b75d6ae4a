package console_test

import (
	"strings"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
)

// TestBrowserCustomerSeesOnlyOwnOrganisation: a Customer of A never sees B's
// credentials, whatever the URL says.
func TestBrowserCustomerSeesOnlyOwnOrganisation(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	orgA := a.customer(t, "Acme Logistics", "alice@acme.test")
	orgB := a.customer(t, "Beta Freight", "bob@beta.test")
	credA := a.Env.Credential(t, orgA.ID, "Acme billing", nil)
	credB := a.Env.Credential(t, orgB.ID, "Beta invoices", nil)
	b.login(a.URL, "alice@acme.test", testPassword)

	for _, path := range []string{"/credentials", "/credentials?org=" + orgB.ID, "/credentials/new?org=" + orgB.ID} {
		b.open(a.URL + path) // on /credentials/new the table is behind the dialog
		rows := b.tableRows("Current API Credentials")
		if len(rows) != 1 || rows[0]["Name"] != "Acme billing" {
			t.Errorf("%s: rows = %v, want Acme billing alone", path, rows)
		}
		if _, ok := rows[0]["Organisation"]; ok {
			t.Errorf("%s: a Customer sees an Organisation column", path)
		}
		if html := b.html(); strings.Contains(html, credB.Credential.ClientID) || strings.Contains(html, "Beta") {
			t.Errorf("%s: the page mentions organisation B", path)
		}
	}
	b.shot("customer-a")

	// B's credentials cannot be reached by URL either.
	b.open(a.URL + "/credentials/" + credB.Credential.ClientID + "/revoke")
	b.waitText("These API credentials do not exist.")
	b.shot("other-org-revoke")
	b.open(a.URL + "/admin/customers")
	b.waitText("This page is for Admins only.")
	b.absent("link", "Customers")
	_ = credA
}

// TestBrowserAdminSeesEveryOrganisation: an Admin sees every
// organisation's credentials with an Organisation column and a filter, and
// the Create API Credentials dialog first asks which customer they are for.
func TestBrowserAdminSeesEveryOrganisation(t *testing.T) {
	b := newBrowser(t)
	a := newApp(t)
	orgA := a.customer(t, "Acme Logistics", "alice@acme.test")
	orgB := a.customer(t, "Beta Freight", "bob@beta.test")
	a.Env.Credential(t, orgA.ID, "Acme billing", nil)
	a.Env.Credential(t, orgB.ID, "Beta invoices", nil)
	b.login(a.URL, servertest.AdminEmail, servertest.AdminPassword)

	b.click("link", "Credentials", b.find("navigation", "Main"))
	b.waitURL("/credentials")
	orgOf := func() map[string]string {
		m := map[string]string{}
		for _, r := range b.tableRows("Current API Credentials") {
			m[r["Name"]] = r["Organisation"]
		}
		return m
	}
	if got := orgOf(); len(got) != 2 || got["Acme billing"] != "Acme Logistics" || got["Beta invoices"] != "Beta Freight" {
		t.Errorf("Admin's table = %v, want both organisations' credentials", got)
	}
	if !b.tableFits() {
		t.Error("at 1280 px the Admin's table scrolls sideways")
	}
	b.shot("admin-all")

	// The filter limits the table to one organisation.
	b.do("choose Beta Freight", chromedpSelect("#filter-org", orgB.ID))
	b.click("button", "Filter")
	b.waitText("of Beta Freight")
	if got := orgOf(); len(got) != 1 || got["Beta invoices"] != "Beta Freight" {
		t.Errorf("filtered table = %v, want Beta invoices alone", got)
	}
	b.shot("admin-filtered")

	// Create asks for the customer first, then Name and permissions.
	b.open(a.URL + "/credentials")
	b.click("button", "Create API Credentials")
	d := b.dialog("Create API Credentials")
	b.find("combobox", "Customer", d)
	b.shot("admin-create-customer")
	b.do("choose Beta Freight", chromedpSelect("#create-org", orgB.ID))
	b.click("button", "Next", d)
	d = b.dialog("Create API Credentials")
	b.waitText("For customer Beta Freight")
	boxes := b.checkboxes("create-dialog")
	if checked, offered := boxes["sapient:introspect"]; !offered || checked {
		t.Errorf("sapient:introspect: offered %v, checked %v; want offered to an Admin, unchecked", offered, checked)
	}
	b.fill("Name", "Beta reports", d)
	b.shot("admin-create-details")
	b.click("button", "Create", d)
	b.dialog("API Credentials")
	b.click("button", "Close")
	b.waitGone("#secret-dialog")
	list, err := a.Env.Store.ListCredentials(t.Context(), store.CredentialFilter{OrgID: orgB.ID})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range list {
		found = found || (c.Name == "Beta reports" && c.CreatedBy == servertest.AdminEmail)
	}
	if !found {
		t.Errorf("Beta reports was not created in Beta Freight by the Admin: %+v", list)
	}
	if got := orgOf(); got["Beta reports"] != "Beta Freight" {
		t.Errorf("table after create = %v", got)
	}
}
