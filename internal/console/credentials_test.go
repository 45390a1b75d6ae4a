package console_test

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestSecretOnlyInCreateResponse: the secret is in the answer to the POST
// that creates it, which may not be cached, and nowhere afterwards.
func TestSecretOnlyInCreateResponse(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		o := h.org(t, "Acme")
		h.user(t, "alice@acme.test", o.ID)
		c := h.client(t)
		c.login("alice@acme.test")

		r := c.post("/credentials", url.Values{"name": {"Billing service"}, "scope": {"credentials:read"}})
		if r.Status != http.StatusOK || r.Header.Get("Location") != "" {
			t.Fatalf("create = %d (Location %q)", r.Status, r.Header.Get("Location"))
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		secret := secretRE.FindString(r.Body)
		if secret == "" {
			t.Fatal("no secret in the API Credentials dialog")
		}
		list, err := h.Store.ListCredentials(t.Context(), store.CredentialFilter{OrgID: o.ID})
		if err != nil || len(list) != 1 {
			t.Fatalf("credentials = %v, %v", list, err)
		}
		cr := list[0]
		if cr.SecretHash != credential.HashSecret(secret).String() || !slices.Equal(cr.Scopes, []string{"credentials:read"}) || cr.CreatedBy != "alice@acme.test" {
			t.Errorf("stored = %+v", cr)
		}
		for _, want := range []string{`id="secret-dialog"`, cr.ClientID, "The secret is not stored and will never be shown again."} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("the answer lacks %q", want)
			}
		}
		for _, p := range []string{"/", "/credentials", "/credentials/new", "/credentials/" + cr.ClientID + "/revoke"} {
			if r := c.get(p); strings.Contains(r.Body, secret) || secretRE.MatchString(r.Body) {
				t.Errorf("GET %s shows a secret", p)
			}
		}
	})
}

func TestCreateValidation(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	c := h.client(t)
	c.login("alice@acme.test")
	if r := c.post("/credentials", url.Values{"name": {"Taken"}}); r.Status != http.StatusOK {
		t.Fatalf("first create = %d", r.Status)
	}
	long := strings.Repeat("n", credential.MaxNameLen+1)
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"empty name", url.Values{"name": {"  "}, "scope": {"usage:read"}}, "Name is required."},
		{"name taken", url.Values{"name": {"Taken"}}, `A credential named &#34;Taken&#34; already exists.`},
		{"name too long", url.Values{"name": {long}}, "Name must be at most 64 characters (it has 65)."},
		{"Admin-only scope", url.Values{"name": {"Sneaky"}, "scope": {"sapient:introspect"}}, `Scope &#34;sapient:introspect&#34; is not available to your organisation.`},
		{"unknown scope", url.Values{"name": {"Sneaky"}, "scope": {"root"}}, `Unknown scope &#34;root&#34;.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post("/credentials", tt.form)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, tt.want) {
				t.Fatalf("= %d, want 422 with %q\n%s", r.Status, tt.want, r.Body)
			}
			// The dialog is open again with the input kept.
			if !strings.Contains(r.Body, `id="create-dialog" class="dialog" aria-labelledby="create-title" open`) {
				t.Error("the Create API Credentials dialog is not open")
			}
			if n := strings.TrimSpace(tt.form.Get("name")); n != "" && !strings.Contains(r.Body, `value="`+html.EscapeString(tt.form.Get("name"))+`"`) {
				t.Error("the Name typed is lost")
			}
			if secretRE.MatchString(r.Body) {
				t.Error("a refused create shows a secret")
			}
		})
	}
	if list, _ := h.Store.ListCredentials(t.Context(), store.CredentialFilter{}); len(list) != 1 {
		t.Errorf("%d credentials after refused creates, want 1", len(list))
	}

	t.Run("no permission ticked means none", func(t *testing.T) {
		if r := c.post("/credentials", url.Values{"name": {"Bare"}}); r.Status != http.StatusOK {
			t.Fatalf("= %d", r.Status)
		}
		list, _ := h.Store.ListCredentials(t.Context(), store.CredentialFilter{})
		for _, cr := range list {
			if cr.Name == "Bare" && len(cr.Scopes) != 0 {
				t.Errorf("scopes = %v, want none", cr.Scopes)
			}
		}
	})
}

// TestCustomerIsolation: whatever the URL or form says, a Customer sees
// and changes only their own organisation.
func TestCustomerIsolation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b)
		orgA, orgB := h.org(t, "Acme"), h.org(t, "Beta")
		h.user(t, "alice@acme.test", orgA.ID)
		theirs, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: orgB.ID, Name: "Beta invoices"})
		if err != nil {
			t.Fatal(err)
		}
		id := theirs.Credential.ClientID
		c := h.client(t)
		c.login("alice@acme.test")

		for _, p := range []string{"/", "/credentials", "/credentials?org=" + orgB.ID, "/credentials/new?org=" + orgB.ID} {
			if r := c.get(p); r.Status != http.StatusOK || strings.Contains(r.Body, id) || strings.Contains(r.Body, "Beta") {
				t.Errorf("GET %s = %d and mentions organisation B: %v", p, r.Status, strings.Contains(r.Body, "Beta"))
			}
		}
		if r := c.get("/credentials/" + id + "/revoke"); r.Status != http.StatusNotFound {
			t.Errorf("GET revoke of B's credentials = %d, want 404", r.Status)
		}
		if r := c.post("/credentials/"+id+"/revoke", nil); r.Status != http.StatusNotFound {
			t.Errorf("POST revoke of B's credentials = %d, want 404", r.Status)
		}
		if cr, _ := h.Store.GetCredential(t.Context(), id); !cr.RevokedAt.IsZero() {
			t.Error("a Customer of A revoked B's credentials")
		}
		// An org field in the form is ignored: the credentials are A's.
		if r := c.post("/credentials", url.Values{"name": {"Mine"}, "org": {orgB.ID}}); r.Status != http.StatusOK {
			t.Fatalf("create = %d", r.Status)
		}
		list, _ := h.Store.ListCredentials(t.Context(), store.CredentialFilter{OrgID: orgB.ID})
		if len(list) != 1 {
			t.Errorf("organisation B has %d credentials, want its own 1", len(list))
		}
		for _, p := range []string{"/admin/customers", "/admin/customers/" + orgB.ID, "/admin/users", "/admin/scopes"} {
			if r := c.get(p); r.Status != http.StatusForbidden {
				t.Errorf("GET %s = %d, want 403", p, r.Status)
			}
			if r := c.post(p, url.Values{"name": {"x"}}); r.Status != http.StatusForbidden {
				t.Errorf("POST %s = %d, want 403", p, r.Status)
			}
		}
	})
}

func TestRevoke(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	created, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: o.ID, Name: "Billing service"})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Credential.ClientID
	c := h.client(t)
	c.login("alice@acme.test")

	// Without script the confirmation is a page of its own naming them.
	r := c.get("/credentials/" + id + "/revoke")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `Revoke the API credentials <strong data-revoke-name>Billing service</strong>?`) ||
		!strings.Contains(r.Body, `action="/credentials/`+id+`/revoke"`) {
		t.Fatalf("confirmation = %d\n%s", r.Status, r.Body)
	}
	r = c.post("/credentials/"+id+"/revoke", nil)
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || loc != "/credentials?revoked="+id {
		t.Fatalf("revoke = %d %q", r.Status, loc)
	}
	r = c.get("/credentials?revoked=" + id)
	if !strings.Contains(r.Body, "API credentials “Billing service” are revoked") || !strings.Contains(r.Body, `status-revoked">Revoked`) {
		t.Errorf("after revoke the page does not say so:\n%s", r.Body)
	}
	if strings.Contains(r.Body, `aria-label="Revoke Billing service"`) {
		t.Error("revoked credentials still offer Revoke")
	}
	cr, _ := h.Store.GetCredential(t.Context(), id)
	if cr.RevokedAt.IsZero() || cr.RevokedBy != "alice@acme.test" {
		t.Errorf("stored = %+v", cr)
	}
	if r := c.post("/credentials/"+id+"/revoke", nil); r.Status != http.StatusSeeOther {
		t.Errorf("revoking again = %d, want the same answer", r.Status)
	}
}

func TestHomeNudgesUntilCredentialsExist(t *testing.T) {
	h := newHarness(t, sqlite)
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	c := h.client(t)
	c.login("alice@acme.test")
	r := c.get("/")
	for _, want := range []string{"Hello, alice@acme.test", "Create your API credentials", `value="` + h.URL + `/connect/token"`, "grant_type=client_credentials"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("Home lacks %q", want)
		}
	}
	if _, err := h.Creds.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: o.ID, Name: "First"}); err != nil {
		t.Fatal(err)
	}
	if r := c.get("/"); strings.Contains(r.Body, "Create your API credentials") {
		t.Error("Home still nudges after credentials exist")
	}
}

func TestStaticFiles(t *testing.T) {
	h := newHarness(t, sqlite)
	c := h.client(t)
	page := c.get("/login").Body
	for _, name := range []string{"app.css", "app.js", "favicon.svg"} {
		t.Run(name, func(t *testing.T) {
			i := strings.Index(page, "/static/"+name+"?v=")
			if i < 0 {
				t.Fatalf("the page does not link %s with a fingerprint", name)
			}
			link := page[i : i+strings.IndexByte(page[i:], '"')]
			if r := c.get(link); r.Status != http.StatusOK || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
				t.Errorf("GET %s = %d, Cache-Control %q", link, r.Status, r.Header.Get("Cache-Control"))
			}
			if r := c.get("/static/" + name + "?v=old"); r.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("a stale fingerprint may be cached: %q", r.Header.Get("Cache-Control"))
			}
		})
	}
	if r := c.get("/static/../console.go"); r.Status == http.StatusOK {
		t.Error("static serves files outside static/")
	}
}
