package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestPasskeyRefusals checks what needs no browser: another person's
// passkey cannot be removed (it answers like an unknown one and stays),
// and forged or missing WebAuthn answers are refused with a message and
// change nothing.
func TestPasskeyRefusals(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		h := newHarnessAt(t, b, "localhost")
		o := h.org(t, "Acme")
		other := h.org(t, "Beta")
		alice := h.user(t, "alice@acme.test", o.ID)
		h.user(t, "bob@beta.test", other.ID)
		a, bob := h.client(t), h.client(t)
		a.login("alice@acme.test")
		bob.login("bob@beta.test")
		if err := h.Store.CreatePasskey(t.Context(), store.Passkey{ID: "alice-key", UserID: alice.ID, Name: "Laptop",
			Credential: []byte(`{}`), CreatedAt: h.Clock.Now()}); err != nil {
			t.Fatal(err)
		}

		for _, id := range []string{"alice-key", "no-such-key"} {
			r := bob.post("/account/passkeys/"+id+"/remove", url.Values{})
			if r.Status != http.StatusNotFound || !strings.Contains(r.Body, "not one of yours") {
				t.Errorf("bob removes %s: %d", id, r.Status)
			}
		}
		if list, _ := h.Store.ListPasskeys(t.Context(), alice.ID); len(list) != 1 {
			t.Fatalf("alice's passkeys after bob's attempts: %v", list)
		}

		// Forged registrations: no script, an unknown ceremony, a
		// ceremony begun by someone else, a made-up answer.
		cer := bob.post("/account/passkeys/options", url.Values{})
		if cer.Status != http.StatusOK || !strings.Contains(cer.Body, `"rp":{"name":"Sapient","id":"localhost"}`) {
			t.Fatalf("passkey options: %d %s", cer.Status, cer.Body)
		}
		bobChallenge := cer.Body[strings.Index(cer.Body, `"challenge":"`)+13:]
		bobChallenge = bobChallenge[:strings.Index(bobChallenge, `"`)]
		for _, tc := range []struct{ name, challenge, cred, want string }{
			{"no script", "", "", "needs JavaScript"},
			{"unknown ceremony", "nope", `{"id":"x"}`, "could not be added"},
			{"another person's ceremony", bobChallenge, `{"id":"x","rawId":"eA","type":"public-key","response":{}}`, "could not be added"},
			{"too long a name", "nope", `{}`, "at most 64 characters"},
		} {
			form := url.Values{"name": {"Key"}, "challenge": {tc.challenge}, "credential": {tc.cred}}
			if tc.name == "too long a name" {
				form.Set("name", strings.Repeat("n", 65))
			}
			r := a.post("/account/passkeys", form)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, tc.want) {
				t.Errorf("%s: %d, want 422 with %q", tc.name, r.Status, tc.want)
			}
		}
		if list, _ := h.Store.ListPasskeys(t.Context(), alice.ID); len(list) != 1 {
			t.Errorf("alice's passkeys after forged registrations: %d", len(list))
		}

		// A forged passwordless login.
		anon := h.client(t)
		if r := anon.get("/login"); !strings.Contains(r.Body, "Sign in with a passkey") {
			t.Error("login page does not offer passkeys")
		}
		opts := anon.post("/login/passkey/options", url.Values{})
		if opts.Status != http.StatusOK {
			t.Fatalf("login options: %d", opts.Status)
		}
		r := anon.post("/login/passkey", url.Values{"challenge": {"nope"}, "credential": {`{"id":"alice-key"}`}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "That passkey was not accepted") || anon.Cookie != "" {
			t.Errorf("forged passkey login: %d", r.Status)
		}
		events, _ := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "login.failed"})
		if len(events) != 1 || events[0].Detail != "passkey refused" {
			t.Errorf("login.failed events: %+v", events)
		}
	})
}

// TestHalfLoginIsNoSession checks that a login waiting for its second
// factor is not listed among the sessions and ends with Cancel.
func TestHalfLoginIsNoSession(t *testing.T) {
	t.Parallel()
	h, a, b := halfLogin(t)
	if n := strings.Count(a.get("/account/sessions").Body, `<th scope="row"`); n != 1 {
		t.Errorf("sessions page lists %d sessions, want 1 (not the half login)", n)
	}
	if r := b.post("/logout", url.Values{}); r.Status != http.StatusSeeOther {
		t.Fatalf("cancel: %d", r.Status)
	}
	list, err := h.Store.ListUserSessions(t.Context(), a.userID(t, h))
	if err != nil || len(list) != 1 {
		t.Errorf("sessions after cancelling the half login: %d, %v", len(list), err)
	}
}

// userID is the ID of the user of c's session.
func (c *client) userID(t *testing.T, h *harness) string {
	t.Helper()
	u, err := h.Store.GetUserByEmail(t.Context(), "admin@sapient.test")
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestPasskeyCeremoniesLimited: anyone may begin a passkey login, and each
// stores a challenge, so one address begins at most five a second; the
// next is 429 with Retry-After, and a second later it may begin again.
func TestPasskeyCeremoniesLimited(t *testing.T) {
	t.Parallel()
	h := newHarnessAt(t, storetest.Backends()[0], "localhost")
	anon := h.client(t)
	for i := range 5 {
		if r := anon.post("/login/passkey/options", url.Values{}); r.Status != http.StatusOK {
			t.Fatalf("passkey login %d: %d", i+1, r.Status)
		}
	}
	r := anon.post("/login/passkey/options", url.Values{})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("sixth passkey login in a second: %d, Retry-After %q; want 429 and 1", r.Status, r.Header.Get("Retry-After"))
	}
	h.Clock.Advance(time.Second)
	if r := anon.post("/login/passkey/options", url.Values{}); r.Status != http.StatusOK {
		t.Fatalf("a second later: %d", r.Status)
	}
}
