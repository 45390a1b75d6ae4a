package user_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// people is a store with two organisations, an Admin, an owner and a
// member of Acme, and a member of Beta.
type people struct {
	s                            *store.SQL
	svc                          *user.Service
	now                          time.Time
	admin, owner, member, beta   store.User
	acmeID, betaID               string
	adminA, ownerA, memberA, cli access.Actor
}

func newPeople(t *testing.T, b storetest.Backend) *people {
	t.Helper()
	p := &people{s: storetest.New(t, b), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), acmeID: "org_acme", betaID: "org_beta"}
	p.svc = &user.Service{Store: p.s, Now: func() time.Time { return p.now }, Password: user.CheapPasswordParams}
	for _, o := range []store.Org{{ID: p.acmeID, Name: "Acme", CreatedAt: p.now}, {ID: p.betaID, Name: "Beta", CreatedAt: p.now}} {
		if err := p.s.CreateOrg(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(email string, role store.Role, org string, owner bool) store.User {
		u, err := p.svc.Create(t.Context(), access.CLI, user.CreateRequest{Email: email, Password: "a long enough password", Role: role, OrgID: org})
		if err != nil {
			t.Fatal(err)
		}
		if owner {
			yes := true
			if u, err = p.svc.Update(t.Context(), access.CLI, u.ID, user.UpdateRequest{Owner: &yes}); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	p.admin = mk("root@x.test", store.RoleAdmin, "", false)
	p.owner = mk("olga@acme.test", store.RoleCustomer, p.acmeID, true)
	p.member = mk("max@acme.test", store.RoleCustomer, p.acmeID, false)
	p.beta = mk("bea@beta.test", store.RoleCustomer, p.betaID, false)
	p.adminA, p.ownerA, p.memberA = user.Actor(p.admin), user.Actor(p.owner), user.Actor(p.member)
	p.cli = access.CLI
	return p
}

// TestRules: what each actor may do to users is decided in the service.
// An owner reaches only Customer users of their own organisation; anyone
// else answers like an unknown user and stays unchanged; a member who
// owns nothing may do nothing; the last active Admin stays.
func TestRules(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		p := newPeople(t, b)
		ctx := t.Context()
		admin := store.RoleAdmin
		other := p.betaID

		// The owner's view is their organisation.
		list, err := p.svc.List(ctx, p.ownerA)
		if err != nil || len(list) != 2 {
			t.Errorf("owner's List = %d users, %v; want 2 (Acme's)", len(list), err)
		}
		if _, err := p.svc.List(ctx, p.memberA); !errors.Is(err, user.ErrForbidden) {
			t.Errorf("member's List = %v, want ErrForbidden", err)
		}

		// Another organisation's user and an Admin answer like an unknown one.
		for _, id := range []string{p.beta.ID, p.admin.ID, "usr_nobody"} {
			if _, err := p.svc.Disable(ctx, p.ownerA, id); !errors.Is(err, user.ErrNotFound) {
				t.Errorf("owner disables %s: %v, want ErrNotFound", id, err)
			}
			if _, err := p.svc.Delete(ctx, p.ownerA, id); !errors.Is(err, user.ErrNotFound) {
				t.Errorf("owner deletes %s: %v, want ErrNotFound", id, err)
			}
			if _, _, err := p.svc.ResetLink(ctx, p.ownerA, id); !errors.Is(err, user.ErrNotFound) {
				t.Errorf("owner makes a reset link for %s: %v, want ErrNotFound", id, err)
			}
		}
		// An owner never makes an Admin nor moves anyone elsewhere.
		if _, err := p.svc.Update(ctx, p.ownerA, p.member.ID, user.UpdateRequest{Role: &admin}); !errors.Is(err, user.ErrForbidden) {
			t.Errorf("owner promotes: %v, want ErrForbidden", err)
		}
		if _, err := p.svc.Update(ctx, p.ownerA, p.member.ID, user.UpdateRequest{OrgID: &other}); !errors.Is(err, user.ErrForbidden) {
			t.Errorf("owner moves to Beta: %v, want ErrForbidden", err)
		}
		for _, req := range []user.InviteRequest{
			{Email: "x@y.test", Role: store.RoleAdmin},
			{Email: "x@y.test", Role: store.RoleCustomer, OrgID: p.betaID},
		} {
			if _, _, err := p.svc.Invite(ctx, p.ownerA, req); !errors.Is(err, user.ErrForbidden) {
				t.Errorf("owner invites %+v: %v, want ErrForbidden", req, err)
			}
		}
		if _, _, err := p.svc.Invite(ctx, p.memberA, user.InviteRequest{Email: "x@y.test", Role: store.RoleCustomer, OrgID: p.acmeID}); !errors.Is(err, user.ErrForbidden) {
			t.Errorf("member invites: %v, want ErrForbidden", err)
		}
		if _, err := p.svc.Create(ctx, p.ownerA, user.CreateRequest{Email: "x@y.test", Password: "a long enough password", Role: store.RoleCustomer, OrgID: p.acmeID}); !errors.Is(err, user.ErrForbidden) {
			t.Errorf("owner Create: %v, want ErrForbidden", err)
		}
		for _, u := range []store.User{p.beta, p.admin} {
			got, _ := p.s.GetUser(ctx, u.ID)
			if got.Disabled() || got.Role != u.Role || got.OrgID != u.OrgID {
				t.Errorf("%s changed: %+v", u.Email, got)
			}
		}
		if _, err := p.s.GetUserByEmail(ctx, "x@y.test"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused invitation created a user: %v", err)
		}

		// The owner disables and enables a member; their sessions end.
		sessions := &user.Sessions{Store: p.s, Now: p.svc.Now}
		token, _, err := sessions.Start(ctx, p.member)
		if err != nil {
			t.Fatal(err)
		}
		if u, err := p.svc.Disable(ctx, p.ownerA, p.member.ID); err != nil || !u.Disabled() {
			t.Fatalf("owner disables member: %+v, %v", u, err)
		}
		if _, _, err := sessions.Lookup(ctx, token); !errors.Is(err, user.ErrNoSession) {
			t.Errorf("disabled member's session: %v, want ErrNoSession", err)
		}
		if _, err := p.svc.Authenticate(ctx, access.Actor{}, p.member.Email, "a long enough password"); !errors.Is(err, user.ErrBadLogin) {
			t.Errorf("disabled member logs in: %v, want ErrBadLogin", err)
		}
		if _, err := p.svc.Enable(ctx, p.ownerA, p.member.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := p.svc.Authenticate(ctx, access.Actor{}, p.member.Email, "a long enough password"); err != nil {
			t.Errorf("enabled member logs in: %v", err)
		}
		if _, err := p.svc.Disable(ctx, p.ownerA, p.owner.ID); !errors.Is(err, user.ErrSelf) {
			t.Errorf("owner disables self: %v, want ErrSelf", err)
		}

		// Withdrawing the owner flag takes the owner's authority at once.
		no := false
		if _, err := p.svc.Update(ctx, p.adminA, p.owner.ID, user.UpdateRequest{Owner: &no}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.svc.Disable(ctx, p.ownerA, p.member.ID); !errors.Is(err, user.ErrForbidden) {
			t.Errorf("former owner disables: %v, want ErrForbidden", err)
		}

		// The last active Admin.
		if _, err := p.svc.Disable(ctx, p.cli, p.admin.ID); !errors.Is(err, user.ErrLastAdmin) {
			t.Errorf("disable last Admin: %v, want ErrLastAdmin", err)
		}
		cust := store.RoleCustomer
		acme := p.acmeID
		if _, err := p.svc.Update(ctx, p.cli, p.admin.ID, user.UpdateRequest{Role: &cust, OrgID: &acme}); !errors.Is(err, user.ErrLastAdmin) {
			t.Errorf("demote last Admin: %v, want ErrLastAdmin", err)
		}
		if _, err := p.svc.Delete(ctx, p.cli, p.admin.ID); !errors.Is(err, user.ErrLastAdmin) {
			t.Errorf("delete last Admin: %v, want ErrLastAdmin", err)
		}
		// With a second Admin, the first may go; the audit keeps the email.
		if _, err := p.svc.Update(ctx, p.cli, p.beta.ID, user.UpdateRequest{Role: &admin}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.svc.Delete(ctx, p.cli, p.admin.ID); err != nil {
			t.Fatalf("delete an Admin of two: %v", err)
		}
		events, err := p.s.ListAudit(ctx, store.AuditFilter{Action: "user.deleted", Limit: 10})
		if err != nil || len(events) != 1 || events[0].Target != p.admin.Email {
			t.Errorf("user.deleted events = %+v, %v", events, err)
		}
	})
}

// TestLinks: invitation and reset links are single use, expire, are bound
// to their user, and stored only as a digest; setting a password through
// one ends the user's sessions.
func TestLinks(t *testing.T) {
	p := newPeople(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	ctx := t.Context()
	u, token, err := p.svc.Invite(ctx, p.ownerA, user.InviteRequest{Email: "new@acme.test", Role: store.RoleCustomer, OrgID: p.acmeID})
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 {
		t.Errorf("token %d characters, want 43 (256 bits)", len(token))
	}
	if _, err := p.s.GetUserLink(ctx, token); !errors.Is(err, store.ErrNotFound) {
		t.Error("the token itself is stored")
	}
	if _, err := p.svc.Authenticate(ctx, access.Actor{}, u.Email, ""); !errors.Is(err, user.ErrBadLogin) {
		t.Errorf("an invited user without a password logs in: %v", err)
	}
	// Tampered, other user's session: refused, nothing changes.
	if _, err := p.svc.SetPasswordByLink(ctx, access.Actor{}, tamper(token), "a brand new password"); !errors.Is(err, user.ErrLinkInvalid) {
		t.Errorf("tampered: %v", err)
	}
	if _, err := p.svc.SetPasswordByLink(ctx, p.memberA, token, "a brand new password"); !errors.Is(err, user.ErrLinkOtherUser) {
		t.Errorf("another user's session: %v", err)
	}
	if _, _, err := p.svc.CheckLink(ctx, token); err != nil {
		t.Errorf("link after refusals: %v", err)
	}
	refused, _ := p.s.ListAudit(ctx, store.AuditFilter{Action: "link.refused", Limit: 10})
	if len(refused) != 1 {
		t.Errorf("link.refused events: %d, want 1", len(refused))
	}
	// Used once.
	if _, err := p.svc.SetPasswordByLink(ctx, access.Actor{}, token, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.svc.Authenticate(ctx, access.Actor{}, u.Email, "a brand new password"); err != nil {
		t.Errorf("login with the password set by link: %v", err)
	}
	if _, err := p.svc.SetPasswordByLink(ctx, access.Actor{}, token, "another new password"); !errors.Is(err, user.ErrLinkUsed) {
		t.Errorf("second use: %v, want ErrLinkUsed", err)
	}

	// A reset link ends sessions, and expires after an hour.
	sessions := &user.Sessions{Store: p.s, Now: p.svc.Now}
	st, _, _ := sessions.Start(ctx, p.member)
	_, reset, err := p.svc.RequestReset(ctx, access.Actor{IP: "192.0.2.1"}, "MAX@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.svc.RequestReset(ctx, access.Actor{}, "nobody@acme.test"); !errors.Is(err, user.ErrNotFound) {
		t.Errorf("reset for an unknown email: %v", err)
	}
	p.now = p.now.Add(user.ResetValid)
	if _, err := p.svc.SetPasswordByLink(ctx, access.Actor{}, reset, "a brand new password"); !errors.Is(err, user.ErrLinkExpired) {
		t.Errorf("after an hour: %v, want ErrLinkExpired", err)
	}
	p.now = p.now.Add(-time.Second)
	if _, err := p.svc.SetPasswordByLink(ctx, access.Actor{}, reset, "a brand new password"); err != nil {
		t.Fatalf("within the hour: %v", err)
	}
	if _, _, err := sessions.Lookup(ctx, st); !errors.Is(err, user.ErrNoSession) {
		t.Errorf("session after reset: %v", err)
	}
	// No audit event holds a token.
	events, _ := p.s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	for _, e := range events {
		if strings.Contains(e.Detail+e.Target, token[:20]) || strings.Contains(e.Detail+e.Target, reset[:20]) {
			t.Errorf("audit event holds a link token: %+v", e)
		}
	}
}

// tamper changes the first character of a token.
func tamper(token string) string {
	if token[0] == 'A' {
		return "B" + token[1:]
	}
	return "A" + token[1:]
}

// TestLastAdminConcurrent: two Admins disabling each other at the same
// moment cannot leave the platform without an active Admin. The check
// runs inside the transaction of the change, which locks the active
// Admins' rows on PostgreSQL (SQLite writes one transaction at a time).
func TestLastAdminConcurrent(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		p := newPeople(t, b)
		ctx := t.Context()
		for round := range 5 {
			other, err := p.svc.Create(ctx, p.cli, user.CreateRequest{Email: fmt.Sprintf("admin%d@x.test", round), Password: "a long enough password", Role: store.RoleAdmin})
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{p.admin.ID, other.ID}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, id := range ids {
				wg.Go(func() { _, errs[i] = p.svc.Disable(ctx, p.cli, id) })
			}
			wg.Wait()
			active, err := p.s.ActiveAdmins(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(active) != 1 {
				t.Fatalf("round %d: %d active Admins after both were disabled at once (%v), want 1", round, len(active), errs)
			}
			if !errors.Is(errs[0], user.ErrLastAdmin) && !errors.Is(errs[1], user.ErrLastAdmin) {
				t.Errorf("round %d: errors %v, want one ErrLastAdmin", round, errs)
			}
			// The one left active becomes the next round's first Admin.
			p.admin.ID = active[0]
			for _, id := range ids {
				if id != active[0] {
					if _, err := p.svc.Delete(ctx, p.cli, id); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	})
}
