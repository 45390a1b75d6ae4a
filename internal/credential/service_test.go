package credential_test

import (
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// t0 is the fixed start of the test clock.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }
func newClock() *clock                   { return &clock{now: t0} }
func customer(orgID string) access.Actor { return customerNamed(orgID, "cust@"+orgID) }
func adminUser() access.Actor {
	return access.Actor{Kind: access.KindUser, ID: "usr_admin", Label: "admin@test", Role: store.RoleAdmin}
}
func customerNamed(orgID, label string) access.Actor {
	return access.Actor{Kind: access.KindUser, ID: "usr_" + label, Label: label, Role: store.RoleCustomer, OrgID: orgID}
}

// fixture is a fresh store with the built-in scopes, one custom scope
// (shipments:read, defined but granted to no organisation) and two
// organisations, Acme and Beta, that may grant the default scopes.
type fixture struct {
	store   store.Store
	clock   *clock
	svc     *credential.Service
	acme    store.Org
	beta    store.Org
	changed []store.Credential
	backend string
}

// forEachBackend runs fn on a fresh fixture of every store backend, side by
// side.
func forEachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) { fn(t, newFixture(t, b)) })
}

func newFixture(t *testing.T, b storetest.Backend) *fixture {
	t.Helper()
	s := storetest.New(t, b)
	ctx := t.Context()
	if err := scope.EnsureBuiltin(ctx, s, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := scope.Create(ctx, s, access.CLI, "shipments:read", "Read shipments", t0); err != nil {
		t.Fatal(err)
	}
	acme, err := org.Create(ctx, s, access.CLI, "Acme", t0)
	if err != nil {
		t.Fatal(err)
	}
	beta, err := org.Create(ctx, s, access.CLI, "Beta", t0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, clock: newClock(), acme: acme, beta: beta, backend: b.Name}
	f.svc = &credential.Service{Store: s, Now: f.clock.Now, Rand: rand.Reader, Changed: func(c store.Credential) {
		f.changed = append(f.changed, c)
	}}
	return f
}

func (f *fixture) create(t *testing.T, actor access.Actor, orgID, name string, scopes []string) credential.Created {
	t.Helper()
	c, err := f.svc.Create(t.Context(), actor, credential.CreateRequest{OrgID: orgID, Name: name, Scopes: scopes})
	if err != nil {
		t.Fatalf("Create(%s in %s, %v): %v", name, orgID, scopes, err)
	}
	return c
}

// wantValidation fails unless err is a *credential.ValidationError on field.
func wantValidation(t *testing.T, err error, field string) {
	t.Helper()
	var verr *credential.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error = %v, want a ValidationError on %q", err, field)
	}
	if verr.Field != field {
		t.Fatalf("ValidationError on %q (%s), want field %q", verr.Field, verr.Message, field)
	}
	if verr.Message == "" {
		t.Fatal("ValidationError has no message")
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"billing", "billing", true},
		{"  billing service \t", "billing service", true},
		{"x", "x", true},
		{strings.Repeat("a", 64), strings.Repeat("a", 64), true},
		{" " + strings.Repeat("a", 64) + " ", strings.Repeat("a", 64), true},
		{strings.Repeat("é", 64), strings.Repeat("é", 64), true}, // characters, not bytes
		{"Zahlungsdienst – Müller", "Zahlungsdienst – Müller", true},
		{"", "", false},
		{"   ", "", false},
		{"\t\n", "", false},
		{strings.Repeat("a", 65), "", false},
		{strings.Repeat("é", 65), "", false},
		{"bill\ning", "", false},
		{"bill\x00ing", "", false},
		{"bill\x1bing", "", false},
		{"bill\x7fing", "", false},
		{"bill\u0085ing", "", false}, // C1 control
		{"bad \xff utf8", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := credential.NormalizeName(tt.in)
			if !tt.ok {
				wantValidation(t, err, "name")
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"  ", []string{}},
		{"b a", []string{"a", "b"}},
		{"a  a\tb\na", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := credential.ParseScopes(tt.in); !slices.Equal(got, tt.want) {
				t.Fatalf("ParseScopes(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		actor := customer(f.acme.ID)
		c := f.create(t, actor, f.acme.ID, "  billing  ", []string{"credentials:read"})
		cr := c.Credential
		if err := credential.CheckSecretFormat(c.Secret); err != nil {
			t.Fatalf("secret %q: %v", c.Secret, err)
		}
		if !strings.HasPrefix(cr.ClientID, credential.ClientIDPrefix) {
			t.Fatalf("client ID %q lacks prefix", cr.ClientID)
		}
		if cr.Name != "billing" || cr.OrgID != f.acme.ID || cr.CreatedBy != actor.Label {
			t.Fatalf("credential = %+v", cr)
		}
		// The store stamps UpdatedAt and gives the change its Version.
		if !cr.CreatedAt.Equal(t0) || cr.UpdatedAt.IsZero() || cr.Version == 0 || !cr.RevokedAt.IsZero() || !cr.ExpiresAt.IsZero() {
			t.Fatalf("times = created %v updated %v revoked %v expires %v", cr.CreatedAt, cr.UpdatedAt, cr.RevokedAt, cr.ExpiresAt)
		}
		// The store holds only the hash; nothing read back contains the secret.
		got, err := f.svc.Get(t.Context(), actor, cr.ClientID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.SecretHash != credential.HashSecret(c.Secret).String() {
			t.Fatalf("stored hash %q is not the SHA-256 of the secret", got.SecretHash)
		}
		body := c.Secret[len(credential.SecretPrefix):]
		for _, field := range []string{got.SecretHash, got.Name, got.ClientID, got.CreatedBy, strings.Join(got.Scopes, " ")} {
			if strings.Contains(field, body) {
				t.Fatalf("stored credential contains the secret: %+v", got)
			}
		}
		if !slices.Equal(got.Scopes, []string{"credentials:read"}) || got.Name != "billing" {
			t.Fatalf("stored credential = %+v", got)
		}
		// Two credentials never share an ID or a secret.
		c2 := f.create(t, actor, f.acme.ID, "billing 2", nil)
		if c2.Credential.ClientID == cr.ClientID || c2.Secret == c.Secret {
			t.Fatal("two credentials share a client ID or a secret")
		}
	})
}

func TestCreateRefuses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		past := t0.Add(-time.Second)
		tests := []struct {
			name  string
			actor access.Actor
			req   credential.CreateRequest
			field string
		}{
			{"empty name", access.CLI, credential.CreateRequest{OrgID: f.acme.ID, Name: " "}, "name"},
			{"long name", access.CLI, credential.CreateRequest{OrgID: f.acme.ID, Name: strings.Repeat("n", 65)}, "name"},
			{"control in name", access.CLI, credential.CreateRequest{OrgID: f.acme.ID, Name: "a\rb"}, "name"},
			{"no org", access.CLI, credential.CreateRequest{Name: "n"}, "org"},
			{"unknown org", access.CLI, credential.CreateRequest{OrgID: "org_nope", Name: "n"}, "org"},
			{"other org", customer(f.acme.ID), credential.CreateRequest{OrgID: f.beta.ID, Name: "n"}, "org"},
			{"customer without org", customer(""), credential.CreateRequest{OrgID: f.acme.ID, Name: "n"}, "org"},
			{"expiry in the past", access.CLI, credential.CreateRequest{OrgID: f.acme.ID, Name: "n", ExpiresAt: past}, "expires_at"},
			{"expiry now", access.CLI, credential.CreateRequest{OrgID: f.acme.ID, Name: "n", ExpiresAt: t0}, "expires_at"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := f.svc.Create(t.Context(), tt.actor, tt.req)
				wantValidation(t, err, tt.field)
			})
		}
		list, err := f.svc.List(t.Context(), access.CLI, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 || len(f.changed) != 0 {
			t.Fatalf("refused creates left %d credentials and %d change notices", len(list), len(f.changed))
		}
	})
}

func TestCreateExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		exp := t0.Add(24 * time.Hour)
		c, err := f.svc.Create(t.Context(), access.CLI, credential.CreateRequest{OrgID: f.acme.ID, Name: "temp", ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.Get(t.Context(), access.CLI, c.Credential.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ExpiresAt.Equal(exp) || !got.Active(exp.Add(-time.Second)) || got.Active(exp) {
			t.Fatalf("expiry = %v, active before/at = %v/%v", got.ExpiresAt, got.Active(exp.Add(-time.Second)), got.Active(exp))
		}
	})
}

func TestCreateNameUnique(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		first := f.create(t, access.CLI, f.acme.ID, "billing", nil)
		for _, dup := range []string{"billing", " billing ", "Billing", "BILLING"} {
			t.Run(dup, func(t *testing.T) {
				_, err := f.svc.Create(ctx, customer(f.acme.ID), credential.CreateRequest{OrgID: f.acme.ID, Name: dup})
				wantValidation(t, err, "name")
			})
		}
		// Another organisation may use the name.
		f.create(t, access.CLI, f.beta.ID, "billing", nil)
		// Once revoked, the name is free again in Acme.
		if _, err := f.svc.Revoke(ctx, access.CLI, first.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		again := f.create(t, customer(f.acme.ID), f.acme.ID, "billing", nil)
		if again.Credential.ClientID == first.Credential.ClientID {
			t.Fatal("reused name gave the same client ID")
		}
		// ... and taken again by the new active credential.
		_, err := f.svc.Create(ctx, access.CLI, credential.CreateRequest{OrgID: f.acme.ID, Name: "billing"})
		wantValidation(t, err, "name")
		list, err := f.svc.List(ctx, access.CLI, f.acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("Acme has %d credentials, want the revoked and the new one", len(list))
		}
	})
}

func TestCreateScopes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		defaults := scope.DefaultGrant()
		slices.Sort(defaults)
		// Gamma may grant shipments:read, and has (wrongly, by an Admin's
		// hand) been granted the admin-only sapient:introspect as well.
		gamma, err := org.Create(ctx, f.store, access.CLI, "Gamma", t0)
		if err != nil {
			t.Fatal(err)
		}
		if gamma, err = org.Grant(ctx, f.store, access.CLI, gamma.ID, []string{"shipments:read", scope.Introspect}, time.Now); err != nil {
			t.Fatal(err)
		}
		// Delta may not grant shipments:read until an Admin gives it to one
		// of Delta's credentials, which extends Delta's grant.
		delta, err := org.Create(ctx, f.store, access.CLI, "Delta", t0)
		if err != nil {
			t.Fatal(err)
		}
		credActor := access.Actor{Kind: access.KindCredential, ID: "sapci_x", Label: "ci", Role: store.RoleAdmin, OrgID: f.acme.ID}
		tests := []struct {
			name   string
			actor  access.Actor
			orgID  string
			scopes []string
			want   []string // nil: refused on "scopes"
		}{
			{"cli built-in", access.CLI, f.acme.ID, []string{scope.CredentialsRead, scope.Introspect}, []string{scope.CredentialsRead, scope.Introspect}},
			{"cli scope the org may not grant", access.CLI, delta.ID, []string{"shipments:read"}, []string{"shipments:read"}},
			{"cli unknown", access.CLI, f.acme.ID, []string{"nope:read"}, nil},
			{"admin introspect", adminUser(), f.beta.ID, []string{scope.Introspect}, []string{scope.Introspect}},
			{"admin unknown", adminUser(), f.beta.ID, []string{scope.CredentialsRead, "nope"}, nil},
			{"admin nil is the org's grant", adminUser(), f.acme.ID, nil, defaults},
			{"customer granted scope", customer(f.acme.ID), f.acme.ID, []string{scope.UsageRead}, []string{scope.UsageRead}},
			{"customer sorted and deduplicated", customer(f.acme.ID), f.acme.ID, []string{"usage:read credentials:read", scope.UsageRead}, []string{scope.CredentialsRead, scope.UsageRead}},
			{"customer introspect", customer(f.acme.ID), f.acme.ID, []string{scope.Introspect}, nil},
			{"customer introspect among others", customer(f.acme.ID), f.acme.ID, []string{scope.CredentialsRead, scope.Introspect}, nil},
			{"customer scope not granted to org", customer(f.acme.ID), f.acme.ID, []string{"shipments:read"}, nil},
			{"customer unknown", customer(f.acme.ID), f.acme.ID, []string{"nope"}, nil},
			{"customer empty list", customer(f.acme.ID), f.acme.ID, []string{}, []string{}},
			{"customer nil is the org's grant", customer(f.acme.ID), f.acme.ID, nil, defaults},
			{"customer of org with extra grant", customer(gamma.ID), gamma.ID, []string{"shipments:read"}, []string{"shipments:read"}},
			{"customer admin-only even if org holds it", customer(gamma.ID), gamma.ID, []string{scope.Introspect}, nil},
			{"customer nil never includes admin-only", customer(gamma.ID), gamma.ID, nil, append(slices.Clone(defaults), "shipments:read")},
			{"credential actor is no admin", credActor, f.acme.ID, []string{scope.Introspect}, nil},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				name := "cred " + string(rune('a'+i))
				c, err := f.svc.Create(ctx, tt.actor, credential.CreateRequest{OrgID: tt.orgID, Name: name, Scopes: tt.scopes})
				if tt.want == nil {
					wantValidation(t, err, "scopes")
					return
				}
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				got, err := f.svc.Get(ctx, access.CLI, c.Credential.ClientID)
				if err != nil {
					t.Fatal(err)
				}
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if !slices.Equal(got.Scopes, want) || !slices.Equal(c.Credential.Scopes, want) {
					t.Fatalf("scopes = %q (returned %q), want %q", got.Scopes, c.Credential.Scopes, want)
				}
			})
		}
		// The Admin's grant beyond Delta's became part of Delta's grant, so
		// that withdrawing it from Delta later withdraws it everywhere.
		if d, err := f.store.GetOrg(ctx, delta.ID); err != nil || !slices.Contains(d.Scopes, "shipments:read") {
			t.Errorf("Delta's grant after an Admin gave shipments:read = %v, %v", d.Scopes, err)
		}
		if a, _ := f.store.GetOrg(ctx, f.acme.ID); slices.Contains(a.Scopes, scope.Introspect) {
			t.Error("an admin-only scope was added to an organisation's grant")
		}
	})
}

func TestGrantable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		o, err := org.Grant(ctx, f.store, access.CLI, f.acme.ID, []string{"shipments:read", scope.Introspect}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.Grantable(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		want := append(scope.DefaultGrant(), "shipments:read")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("Grantable = %q, want %q (never sapient:introspect)", got, want)
		}
	})
}

func TestOrgIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		a := f.create(t, access.CLI, f.acme.ID, "acme key", nil).Credential
		b := f.create(t, access.CLI, f.beta.ID, "beta key", nil).Credential
		alice := customer(f.acme.ID)

		if _, err := f.svc.Get(ctx, alice, b.ClientID); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("customer of Acme Get(Beta's) = %v, want ErrNotFound", err)
		}
		if _, err := f.svc.Get(ctx, alice, "sapci_doesnotexist"); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("Get(unknown) = %v, want ErrNotFound", err)
		}
		if got, err := f.svc.Get(ctx, alice, a.ClientID); err != nil || got.ClientID != a.ClientID {
			t.Fatalf("customer of Acme Get(Acme's) = %v, %v", got.ClientID, err)
		}
		notices := len(f.changed)
		if _, err := f.svc.Revoke(ctx, alice, b.ClientID); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("customer of Acme Revoke(Beta's) = %v, want ErrNotFound", err)
		}
		if got, _ := f.svc.Get(ctx, access.CLI, b.ClientID); !got.RevokedAt.IsZero() {
			t.Fatal("customer of Acme revoked Beta's credential")
		}
		if len(f.changed) != notices {
			t.Fatal("a refused revoke reported a change")
		}

		lists := []struct {
			name   string
			actor  access.Actor
			filter string
			want   []string
		}{
			{"customer own", alice, "", []string{a.ClientID}},
			{"customer asks for other org", alice, f.beta.ID, []string{a.ClientID}},
			{"customer of Beta", customer(f.beta.ID), f.acme.ID, []string{b.ClientID}},
			{"customer without org", customer(""), "", nil},
			{"customer without org asks", customer(""), f.acme.ID, nil},
			{"credential actor", access.Actor{Kind: access.KindCredential, ID: a.ClientID, Role: store.RoleAdmin, OrgID: f.acme.ID}, "", []string{a.ClientID}},
			{"admin all", adminUser(), "", []string{a.ClientID, b.ClientID}},
			{"admin filtered", adminUser(), f.beta.ID, []string{b.ClientID}},
			{"cli all", access.CLI, "", []string{a.ClientID, b.ClientID}},
		}
		for _, tt := range lists {
			t.Run(tt.name, func(t *testing.T) {
				list, err := f.svc.List(ctx, tt.actor, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range list {
					got = append(got, c.ClientID)
				}
				slices.Sort(got)
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("List = %q, want %q", got, want)
				}
			})
		}
	})
}

func TestCanReach(t *testing.T) {
	tests := []struct {
		name  string
		actor access.Actor
		org   string
		want  bool
	}{
		{"cli", access.CLI, "org_b", true},
		{"admin user", adminUser(), "org_b", true},
		{"customer own", customer("org_a"), "org_a", true},
		{"customer other", customer("org_a"), "org_b", false},
		{"customer empty org", customer(""), "", false},
		{"customer of nothing", customer(""), "org_a", false},
		{"credential own", access.Actor{Kind: access.KindCredential, OrgID: "org_a"}, "org_a", true},
		{"credential with admin role", access.Actor{Kind: access.KindCredential, Role: store.RoleAdmin, OrgID: "org_a"}, "org_b", false},
		{"zero actor", access.Actor{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.actor.CanReach(tt.org); got != tt.want {
				t.Fatalf("CanReach(%q) = %v, want %v", tt.org, got, tt.want)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		alice := customerNamed(f.acme.ID, "alice@acme.test")
		c := f.create(t, alice, f.acme.ID, "billing", nil).Credential
		if len(f.changed) != 1 || f.changed[0].ClientID != c.ClientID {
			t.Fatalf("Changed after Create = %v", f.changed)
		}

		f.clock.Advance(time.Minute)
		revokedAt := f.clock.Now()
		r, err := f.svc.Revoke(ctx, alice, c.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !r.RevokedAt.Equal(revokedAt) || r.RevokedBy != "alice@acme.test" || r.Version <= c.Version {
			t.Fatalf("revoked = at %v by %q updated %v", r.RevokedAt, r.RevokedBy, r.UpdatedAt)
		}
		if r.Active(revokedAt.Add(time.Hour)) {
			t.Fatal("revoked credential is active")
		}
		if len(f.changed) != 2 || !f.changed[1].RevokedAt.Equal(revokedAt) {
			t.Fatalf("Changed after Revoke = %v", f.changed)
		}

		// A second revoke, later and by someone else, changes nothing.
		f.clock.Advance(time.Hour)
		again, err := f.svc.Revoke(ctx, access.CLI, c.ClientID)
		if err != nil {
			t.Fatalf("second Revoke: %v", err)
		}
		if !again.RevokedAt.Equal(revokedAt) || again.RevokedBy != "alice@acme.test" || !again.UpdatedAt.Equal(r.UpdatedAt) || again.Version != r.Version {
			t.Fatalf("second revoke moved the record: at %v by %q updated %v", again.RevokedAt, again.RevokedBy, again.UpdatedAt)
		}
		stored, err := f.svc.Get(ctx, access.CLI, c.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !stored.RevokedAt.Equal(revokedAt) || stored.RevokedBy != "alice@acme.test" {
			t.Fatalf("stored = revoked at %v by %q", stored.RevokedAt, stored.RevokedBy)
		}

		if _, err := f.svc.Revoke(ctx, access.CLI, "sapci_doesnotexist"); !errors.Is(err, credential.ErrNotFound) {
			t.Fatalf("Revoke(unknown) = %v, want ErrNotFound", err)
		}
	})
}

// TestServiceWithoutChanged checks the callback is optional.
func TestServiceWithoutChanged(t *testing.T) {
	f := newFixture(t, storetest.Backends()[0])
	f.svc.Changed = nil
	c := f.create(t, access.CLI, f.acme.ID, "quiet", nil)
	if _, err := f.svc.Revoke(t.Context(), access.CLI, c.Credential.ClientID); err != nil {
		t.Fatal(err)
	}
}
