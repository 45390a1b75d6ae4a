package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/api"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

func (r reply) user(t *testing.T, status int) api.User {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var u api.User
	r.decode(t, &u)
	return u
}

func (c *caller) users(t *testing.T) []string {
	t.Helper()
	r := c.call(t, http.MethodGet, "/api/v1/users", nil)
	if r.status != http.StatusOK {
		t.Fatalf("list users: %d %s", r.status, r.body)
	}
	var out struct{ Data []api.User }
	r.decode(t, &out)
	var emails []string
	for _, u := range out.Data {
		emails = append(emails, u.Email)
	}
	slices.Sort(emails)
	return emails
}

// TestUsersAPI: an Admin's session manages every user; an owner's
// session and a credential holding users:write manage the Customer users
// of their own organisation only. Another organisation's user and an
// Admin answer exactly like an unknown user and stay unchanged; nobody
// but an Admin makes an Admin or moves a user elsewhere.
func TestUsersAPI(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		env := servertest.New(t, b)
		acme, beta := env.Org(t, "Acme"), env.Org(t, "Beta")
		admin := sessionCaller(t, env, servertest.AdminEmail, store.RoleAdmin, "")
		owner := sessionCaller(t, env, "olga@acme.test", store.RoleCustomer, acme.ID)
		yes := true
		olga, _ := env.Store.GetUserByEmail(t.Context(), "olga@acme.test")
		if _, err := env.Server.Users.Update(t.Context(), access.CLI, olga.ID, user.UpdateRequest{Owner: &yes}); err != nil {
			t.Fatal(err)
		}
		member := sessionCaller(t, env, "max@acme.test", store.RoleCustomer, acme.ID)
		bea := env.User(t, "bea@beta.test", servertest.AdminPassword, store.RoleCustomer, beta.ID)
		root, _ := env.Store.GetUserByEmail(t.Context(), servertest.AdminEmail)
		robot := bearerCaller(t, env, acme.ID, "acme-robot", []string{scope.UsersRead, scope.UsersWrite})
		reader := bearerCaller(t, env, acme.ID, "acme-reader", []string{scope.CredentialsRead})

		if got := admin.users(t); len(got) != 4 {
			t.Errorf("Admin lists %v, want all four", got)
		}
		for _, c := range []*caller{owner, robot} {
			if got := c.users(t); !slices.Equal(got, []string{"max@acme.test", "olga@acme.test"}) {
				t.Errorf("%s lists %v, want Acme's two", c.label, got)
			}
		}
		if r := member.call(t, http.MethodGet, "/api/v1/users", nil); r.status != http.StatusForbidden {
			t.Errorf("a member lists users: %d, want 403", r.status)
		}
		if r := reader.call(t, http.MethodGet, "/api/v1/users", nil); r.status != http.StatusForbidden || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("a token without users:read: %d %s", r.status, r.header.Get("WWW-Authenticate"))
		}

		// Other organisations' users and Admins answer like unknown ones.
		for _, c := range []*caller{owner, robot} {
			for _, verb := range []struct {
				method string
				body   any
			}{{http.MethodGet, nil}, {http.MethodPatch, map[string]any{"disabled": true}}, {http.MethodPatch, map[string]any{"owner": true}}, {http.MethodDelete, nil}} {
				unknown := c.call(t, verb.method, "/api/v1/users/usr_nobody", verb.body)
				for _, id := range []string{bea.ID, root.ID} {
					r := c.call(t, verb.method, "/api/v1/users/"+id, verb.body)
					if r.status != http.StatusNotFound || r.status != unknown.status || !sameDetail(r, unknown) {
						t.Errorf("%s %s %s: %d %s, want the unknown user's %d", c.label, verb.method, id, r.status, r.body, unknown.status)
					}
				}
			}
			// Forged: make an Admin, move elsewhere, invite an Admin or elsewhere.
			for _, tt := range []struct {
				method, path string
				body         any
			}{
				{http.MethodPatch, "/api/v1/users/" + member.userID(t), map[string]any{"role": "admin"}},
				{http.MethodPatch, "/api/v1/users/" + member.userID(t), map[string]any{"organization_id": beta.ID}},
				{http.MethodPost, "/api/v1/users", map[string]any{"email": "evil@acme.test", "role": "admin"}},
				{http.MethodPost, "/api/v1/users", map[string]any{"email": "evil@acme.test", "role": "customer", "organization_id": beta.ID}},
			} {
				if r := c.call(t, tt.method, tt.path, tt.body); r.status != http.StatusForbidden {
					t.Errorf("%s forges %s %s %v: %d %s, want 403", c.label, tt.method, tt.path, tt.body, r.status, r.body)
				}
			}
		}
		for _, u := range []store.User{bea, root} {
			got, _ := env.Store.GetUser(t.Context(), u.ID)
			if got.Disabled() || got.Role != u.Role || got.OrgID != u.OrgID || got.Owner {
				t.Errorf("%s changed: %+v", u.Email, got)
			}
		}
		if _, err := env.Store.GetUserByEmail(t.Context(), "evil@acme.test"); err == nil {
			t.Error("a forged invitation created a user")
		}

		// The robot invites into Acme; the owner disables and enables.
		inv := robot.call(t, http.MethodPost, "/api/v1/users", map[string]any{"email": "new@acme.test"}).user(t, http.StatusCreated)
		if inv.OrganizationID != acme.ID || inv.Role != "customer" || !inv.Invited || !strings.HasPrefix(inv.Link, env.URL+"/link?token=") {
			t.Errorf("invited = %+v", inv)
		}
		if got := robot.call(t, http.MethodGet, "/api/v1/users/"+inv.ID, nil).user(t, http.StatusOK); got.Link != "" {
			t.Error("the link is shown again")
		}
		if d := owner.call(t, http.MethodPatch, "/api/v1/users/"+member.userID(t), map[string]any{"disabled": true}).user(t, http.StatusOK); !d.Disabled {
			t.Errorf("disable = %+v", d)
		}
		if r := member.call(t, http.MethodGet, "/api/v1/credentials", nil); r.status != http.StatusUnauthorized {
			t.Errorf("the disabled member's session: %d, want 401", r.status)
		}
		owner.call(t, http.MethodPatch, "/api/v1/users/"+member.userID(t), map[string]any{"disabled": false}).user(t, http.StatusOK)

		// The Admin: the last active Admin stays; others change.
		if r := admin.call(t, http.MethodPatch, "/api/v1/users/"+root.ID, map[string]any{"disabled": true}); r.status != http.StatusConflict {
			t.Errorf("Admin disables self: %d", r.status)
		}
		if r := robot.call(t, http.MethodPatch, "/api/v1/users/"+inv.ID, map[string]any{"role": "boss"}); r.status != http.StatusForbidden {
			t.Errorf("role boss by robot: %d", r.status)
		}
		if r := admin.call(t, http.MethodPatch, "/api/v1/users/"+inv.ID, map[string]any{"role": "boss"}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("role boss by Admin: %d", r.status)
		}
		if r := admin.call(t, http.MethodPatch, "/api/v1/users/"+inv.ID, `{"Role":"admin"}`); r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
			t.Errorf("unknown member: %d", r.status)
		}
		moved := admin.call(t, http.MethodPatch, "/api/v1/users/"+bea.ID, map[string]any{"organization_id": acme.ID, "owner": true}).user(t, http.StatusOK)
		if moved.OrganizationID != acme.ID || !moved.Owner {
			t.Errorf("moved = %+v", moved)
		}
		if r := admin.call(t, http.MethodDelete, "/api/v1/users/"+inv.ID, nil); r.status != http.StatusNoContent {
			t.Errorf("delete = %d %s", r.status, r.body)
		}
		if r := admin.call(t, http.MethodGet, "/api/v1/users/"+inv.ID, nil); r.status != http.StatusNotFound {
			t.Errorf("deleted user: %d", r.status)
		}
	})
}

// sameDetail reports whether two problems say the same, apart from the
// path they were asked at.
func sameDetail(a, b reply) bool {
	var pa, pb api.Problem
	json.Unmarshal(a.body, &pa)
	json.Unmarshal(b.body, &pb)
	return pa.Title == pb.Title && pa.Detail == pb.Detail && pa.Status == pb.Status
}

// userID is the ID of a session caller's user.
func (c *caller) userID(t *testing.T) string {
	t.Helper()
	u, err := c.env.Store.GetUserByEmail(t.Context(), c.label)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestUsersOpenAPIResponses holds the answers of /api/v1/users to the
// schemas the document gives them.
func TestUsersOpenAPIResponses(t *testing.T) {
	doc := loadDoc(t)
	env := servertest.New(t, storetest.Backends()[0])
	acme := env.Org(t, "Acme")
	admin := sessionCaller(t, env, servertest.AdminEmail, store.RoleAdmin, "")
	target := env.User(t, "t@acme.test", servertest.AdminPassword, store.RoleCustomer, acme.ID)
	for _, c := range []struct {
		method, path, concrete string
		body                   any
		status                 int
	}{
		{"GET", "/api/v1/users", "/api/v1/users", nil, 200},
		{"POST", "/api/v1/users", "/api/v1/users", map[string]any{"email": "n@acme.test", "role": "customer", "organization_id": acme.ID}, 201},
		{"POST", "/api/v1/users", "/api/v1/users", map[string]any{"email": "nope"}, 422},
		{"GET", "/api/v1/users/{id}", "/api/v1/users/" + target.ID, nil, 200},
		{"GET", "/api/v1/users/{id}", "/api/v1/users/usr_nope", nil, 404},
		{"PATCH", "/api/v1/users/{id}", "/api/v1/users/" + target.ID, map[string]any{"owner": true}, 200},
		{"DELETE", "/api/v1/users/{id}", "/api/v1/users/" + target.ID, nil, 204},
	} {
		t.Run(fmt.Sprintf("%s %s %d", c.method, c.concrete, c.status), func(t *testing.T) {
			op, ok := doc.op(t, c.method, c.path)
			if !ok {
				t.Fatal("not documented")
			}
			r := admin.call(t, c.method, c.concrete, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			documented, ok := op.Responses[fmt.Sprint(c.status)]
			if !ok {
				t.Fatalf("status %d is not documented", c.status)
			}
			if c.status == 204 {
				return
			}
			mt, _, _ := strings.Cut(r.header.Get("Content-Type"), ";")
			media, ok := documented.Content[mt]
			if !ok {
				t.Fatalf("media type %q is not documented for %d", mt, c.status)
			}
			var v any
			if err := json.Unmarshal(r.body, &v); err != nil {
				t.Fatal(err)
			}
			if err := validateSchema(doc, media.Schema, v, "$"); err != nil {
				t.Errorf("body does not match the schema: %v\n%s", err, r.body)
			}
		})
	}
}
