package credential_test

import (
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/store"
)

// leakEvents returns the credential.leaked audit events, newest first.
func (f *fixture) leakEvents(t *testing.T) []store.AuditEvent {
	t.Helper()
	evs, err := f.store.ListAudit(t.Context(), store.AuditFilter{Action: audit.CredentialLeaked})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (f *fixture) get(t *testing.T, clientID string) store.Credential {
	t.Helper()
	c, err := f.store.GetCredential(t.Context(), clientID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) report(t *testing.T, url string, secrets ...string) []credential.LeakOutcome {
	t.Helper()
	out, err := f.svc.ReportLeaked(t.Context(), credential.LeakReporter("203.0.113.7", credential.LeakSourceReport),
		credential.LeakReport{Secrets: secrets, URL: url, Source: credential.LeakSourceReport})
	if err != nil {
		t.Fatalf("ReportLeaked: %v", err)
	}
	return out
}

func wantOutcomes(t *testing.T, got []credential.LeakOutcome, want ...credential.LeakOutcome) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
}

// TestReportLeakedRevokes: a reported secret that works revokes its
// credential, with one credential.leaked event naming the reporter's
// address and the URL and never the secret; strings that are not secrets,
// secrets nobody has, and the same secret reported again change nothing;
// another organisation's credential is untouched.
func TestReportLeakedRevokes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		leaked := f.create(t, adminUser(), f.acme.ID, "billing", nil)
		other := f.create(t, adminUser(), f.beta.ID, "billing", nil)
		unknown, _ := credential.NewSecret(rand.Reader)
		badSum := leaked.Secret[:len(leaked.Secret)-1] + "a"
		if badSum == leaked.Secret {
			badSum = leaked.Secret[:len(leaked.Secret)-1] + "b"
		}
		f.changed = nil
		out := f.report(t, "https://example.com/acme/app/blob/main/.env", leaked.Secret, "garbage", unknown, badSum, "")
		wantOutcomes(t, out, credential.LeakStopped, credential.LeakUnknown, credential.LeakUnknown, credential.LeakUnknown, credential.LeakUnknown)
		c := f.get(t, leaked.Credential.ClientID)
		if c.RevokedAt.IsZero() || c.RevokedBy != "leak report" {
			t.Errorf("leaked credential: revoked at %v by %q, want revoked by the leak report", c.RevokedAt, c.RevokedBy)
		}
		if len(f.changed) != 1 || f.changed[0].ClientID != c.ClientID {
			t.Errorf("the cache was told of %d changes, want the leaked credential's", len(f.changed))
		}
		if o := f.get(t, other.Credential.ClientID); !o.RevokedAt.IsZero() || o.Version != other.Credential.Version {
			t.Errorf("another organisation's credential changed: %+v", o)
		}
		evs := f.leakEvents(t)
		if len(evs) != 1 {
			t.Fatalf("%d credential.leaked events, want 1", len(evs))
		}
		e := evs[0]
		if e.Target != c.ClientID || e.OrgID != f.acme.ID || e.IP != "203.0.113.7" || e.ActorKind != string(access.KindSystem) ||
			!strings.Contains(e.Detail, "203.0.113.7") || !strings.Contains(e.Detail, "https://example.com/acme/app/blob/main/.env") ||
			!strings.Contains(e.Detail, "revoked") {
			t.Errorf("leak event = %+v", e)
		}
		if strings.Contains(e.Detail, credential.SecretPrefix) {
			t.Errorf("the leak event holds a secret: %q", e.Detail)
		}
		if revs, _ := f.store.ListAudit(t.Context(), store.AuditFilter{Action: audit.CredentialRevoked}); len(revs) != 0 {
			t.Errorf("%d credential.revoked events besides credential.leaked, want none", len(revs))
		}

		// Again: nothing more changes.
		wantOutcomes(t, f.report(t, "https://example.com/again", leaked.Secret, leaked.Secret), credential.LeakInactive, credential.LeakInactive)
		if again := f.get(t, c.ClientID); again.Version != c.Version || !again.RevokedAt.Equal(c.RevokedAt) {
			t.Errorf("reporting a revoked secret again changed it: version %d to %d", c.Version, again.Version)
		}
		if n := len(f.leakEvents(t)); n != 1 {
			t.Errorf("%d credential.leaked events after a second report, want 1", n)
		}
	})
}

// TestReportLeakedPreviousSecret: the previous secret of a roll is a
// working secret while its overlap lasts, and reporting it revokes the
// credential; after the overlap it is reported in vain.
func TestReportLeakedPreviousSecret(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		a := f.create(t, adminUser(), f.acme.ID, "a", nil)
		if _, err := f.svc.Roll(t.Context(), adminUser(), a.Credential.ClientID, time.Hour); err != nil {
			t.Fatal(err)
		}
		b := f.create(t, adminUser(), f.acme.ID, "b", nil)
		if _, err := f.svc.Roll(t.Context(), adminUser(), b.Credential.ClientID, time.Hour); err != nil {
			t.Fatal(err)
		}
		wantOutcomes(t, f.report(t, "u", a.Secret), credential.LeakStopped)
		if c := f.get(t, a.Credential.ClientID); c.RevokedAt.IsZero() {
			t.Error("reporting the previous secret within its overlap did not revoke the credential")
		}
		f.clock.Advance(time.Hour)
		before := f.get(t, b.Credential.ClientID)
		wantOutcomes(t, f.report(t, "u", b.Secret), credential.LeakInactive)
		if c := f.get(t, b.Credential.ClientID); !c.RevokedAt.IsZero() || c.Version != before.Version {
			t.Error("reporting a previous secret after its overlap changed the credential")
		}
	})
}

// TestReportLeakedRolls: with the organisation's leak action "roll", a
// leaked current secret is replaced by one nobody knows, the credential
// stays active, and its owner gets a usable secret by rolling it; a leaked
// previous secret only ends the overlap.
func TestReportLeakedRolls(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		if err := org.SetLeakAction(t.Context(), f.store, customer(f.acme.ID), f.acme.ID, store.LeakRoll, f.clock.Now); err == nil {
			t.Error("a customer chose the leak action")
		}
		if err := org.SetLeakAction(t.Context(), f.store, adminUser(), f.acme.ID, "ignore", f.clock.Now); err == nil {
			t.Error("an unknown leak action was accepted")
		}
		if err := org.SetLeakAction(t.Context(), f.store, adminUser(), f.acme.ID, store.LeakRoll, f.clock.Now); err != nil {
			t.Fatal(err)
		}
		a := f.create(t, adminUser(), f.acme.ID, "a", nil)
		wantOutcomes(t, f.report(t, "u", a.Secret), credential.LeakStopped)
		c := f.get(t, a.Credential.ClientID)
		if !c.Active(f.clock.Now()) || c.SecretHash == a.Credential.SecretHash || c.PreviousSecretHash != "" {
			t.Errorf("after a leak with the roll action: %+v; want active, with a new secret and no previous one", c)
		}
		if evs := f.leakEvents(t); len(evs) != 1 || !strings.Contains(evs[0].Detail, "nobody knows") {
			t.Errorf("leak events = %+v", evs)
		}
		// Nothing keeps the replaced secret's digest: it is unknown now.
		wantOutcomes(t, f.report(t, "u", a.Secret), credential.LeakUnknown)
		rolled, err := f.svc.Roll(t.Context(), adminUser(), c.ClientID, time.Hour)
		if err != nil {
			t.Fatalf("the owner rolls the secret: %v", err)
		}
		// The owner's new secret; the one before it nobody knew, and its
		// overlap is harmless. Reporting the owner's old (leaked) secret
		// does nothing; reporting the new one replaces it again.
		wantOutcomes(t, f.report(t, "u", rolled.Secret), credential.LeakStopped)
		c = f.get(t, c.ClientID)
		if c.SecretHash == rolled.Credential.SecretHash || c.PreviousSecretHash != "" || !c.Active(f.clock.Now()) {
			t.Errorf("after the second leak: %+v", c)
		}

		b := f.create(t, adminUser(), f.acme.ID, "b", nil)
		bRolled, err := f.svc.Roll(t.Context(), adminUser(), b.Credential.ClientID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		wantOutcomes(t, f.report(t, "u", b.Secret), credential.LeakStopped)
		cb := f.get(t, b.Credential.ClientID)
		if cb.SecretHash != bRolled.Credential.SecretHash || cb.PreviousSecretHash != "" || !cb.Active(f.clock.Now()) {
			t.Errorf("a leaked previous secret with the roll action: %+v; want the current secret kept and no overlap", cb)
		}
		if a, _ := f.store.OrgLeakAction(t.Context(), f.beta.ID); a != store.LeakRevoke {
			t.Errorf("Beta's leak action = %q, want revoke", a)
		}
	})
}

// TestReportLeakedURL: the URL kept is bounded and without control
// characters.
func TestReportLeakedURL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		a := f.create(t, adminUser(), f.acme.ID, "a", nil)
		f.report(t, "https://x.test/\r\n"+strings.Repeat("é", 1000), a.Secret)
		evs := f.leakEvents(t)
		if len(evs) != 1 {
			t.Fatalf("%d leak events", len(evs))
		}
		if d := evs[0].Detail; strings.ContainsAny(d, "\r\n") || len(d) > 512 || strings.Count(d, "é") > credential.MaxLeakURLLen/2 ||
			!strings.Contains(d, "revoked") {
			t.Errorf("detail = %q", d)
		}
	})
}
