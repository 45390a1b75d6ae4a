package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// authenticator adds a DevTools virtual authenticator to the tab: a
// platform authenticator (CTAP 2.1, internal transport) with resident
// keys and user verification that always succeeds.
func (b *browserTab) authenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	var id webauthn.AuthenticatorID
	b.do("virtual authenticator", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		id = res.AuthenticatorID
		return err
	}))
	return id
}

// removeAuthenticator takes a virtual authenticator, and its passkeys,
// out of the tab.
func (b *browserTab) removeAuthenticator(id webauthn.AuthenticatorID) {
	b.t.Helper()
	b.do("remove authenticator", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id})
		return err
	}))
}

// logout logs the tab out through the user menu's form.
func (b *browserTab) logout() {
	b.t.Helper()
	b.reloaded(func() { eval[bool](b, `document.querySelector('form[action="/logout"]').submit(), true`) })
	b.waitURL("/login")
}

// addPasskey adds a passkey named name on Account > Two-factor
// authentication.
func (b *browserTab) addPasskey(base, name string) {
	b.t.Helper()
	b.open(base + "/account/two-factor")
	b.fill("Passkey name", name)
	b.reloaded(func() { b.click("button", "Add passkey") })
	b.waitText("Passkey " + name + " added.")
}

// TestPasskeysInBrowser adds passkeys in Chromium with the DevTools
// virtual authenticator, signs in with one without a password and uses
// one as the second step of a login; a passkey of another person is
// refused.
func TestPasskeysInBrowser(t *testing.T) {
	b := newBrowser(t)
	h := newHarnessAt(t, storetest.Backends()[0], "localhost")
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	h.user(t, "bob@acme.test", o.ID)

	// Bob adds a passkey on an authenticator that then goes away.
	bobKey := b.authenticator()
	b.login(h.URL, "bob@acme.test", testPassword)
	b.addPasskey(h.URL, "Bob's key")
	b.logout()
	b.removeAuthenticator(bobKey)

	// Alice adds hers, and gets recovery codes once.
	b.authenticator()
	b.login(h.URL, "alice@acme.test", testPassword)
	b.addPasskey(h.URL, "Laptop")
	b.shot("passkey-added")
	if n := strings.Count(b.html(), "<li><code>"); n != 10 {
		t.Errorf("%d recovery codes shown after the first passkey, want 10", n)
	}
	if rows := b.tableRows("Your passkeys"); len(rows) != 1 || rows[0]["Name"] != "Laptop" {
		t.Errorf("passkeys listed: %v", rows)
	}
	b.logout()
	b.shot("login-with-passkey")

	// Sign in with a passkey: no email, no password.
	b.reloaded(func() { b.click("button", "Sign in with a passkey") })
	b.waitURL("/")
	if !strings.Contains(b.text(), "alice@acme.test") {
		t.Fatal("passwordless login did not log Alice in")
	}
	b.logout()

	// Bob's password, then Alice's passkey as his second factor: refused.
	b.open(h.URL + "/login")
	b.fill("Email", "bob@acme.test")
	b.fill("Password", testPassword)
	b.click("button", "Log in")
	b.waitURL("/login/two-factor")
	b.reloaded(func() {
		eval[bool](b, `(async () => {
			const res = await fetch('/login/two-factor/passkey/options', {method: 'POST'});
			const c = await res.json(), pk = c.options.publicKey;
			const b64d = s => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), ch => ch.charCodeAt(0)).buffer;
			const b64e = buf => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
			pk.challenge = b64d(pk.challenge);
			delete pk.allowCredentials; // let the authenticator offer Alice's passkey
			const cred = await navigator.credentials.get({publicKey: pk});
			const r = cred.response, f = document.querySelector('form[data-passkey]');
			f.elements.challenge.value = c.challenge;
			f.elements.credential.value = JSON.stringify({id: cred.id, rawId: b64e(cred.rawId), type: cred.type, response: {
				authenticatorData: b64e(r.authenticatorData), clientDataJSON: b64e(r.clientDataJSON), signature: b64e(r.signature),
				userHandle: r.userHandle ? b64e(r.userHandle) : undefined}, clientExtensionResults: {}});
			f.submit();
			return true;
		})()`)
	})
	b.waitText("That passkey was not accepted.")
	b.open(h.URL + "/credentials")
	b.waitURL("/login/two-factor")
	events, err := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "login.failed"})
	if err != nil || len(events) != 1 || events[0].Target != "bob@acme.test" || events[0].Detail != "passkey refused" {
		t.Errorf("login.failed events = %+v, %v", events, err)
	}
	b.click("button", "Cancel")
	b.waitURL("/login")

	// Alice's password, then her passkey as the second step.
	b.open(h.URL + "/login")
	b.fill("Email", "alice@acme.test")
	b.fill("Password", testPassword)
	b.click("button", "Log in")
	b.waitURL("/login/two-factor")
	b.reloaded(func() { b.click("button", "Use a passkey") })
	b.waitURL("/")
	ok, err := h.Store.ListAudit(t.Context(), store.AuditFilter{Action: "login.succeeded"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ok {
		if e.Target == "alice@acme.test" && e.Detail == "with a passkey" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d logins of Alice with a passkey in the audit trail, want 2", n)
	}
}

// TestTOTPInBrowser sets up an authenticator app in Chromium from the QR
// code page, logs in with a code, and lists and ends a session on
// Account > Sessions.
func TestTOTPInBrowser(t *testing.T) {
	b := newBrowser(t)
	h := newHarness(t, storetest.Backends()[0])
	o := h.org(t, "Acme")
	h.user(t, "alice@acme.test", o.ID)
	other := h.client(t)
	other.loginAs("alice@acme.test", firefoxUA)

	b.login(h.URL, "alice@acme.test", testPassword)
	b.open(h.URL + "/account/two-factor")
	b.reloaded(func() { b.click("button", "Set up authenticator app") })
	if !eval[bool](b, `(() => { const i = document.querySelector('img[alt^="QR code"]'); return !!i && i.complete && i.naturalWidth > 0; })()`) {
		t.Error("the QR code image did not load")
	}
	b.shot("totp-qr")
	secret := eval[string](b, `document.getElementById('totp-secret').textContent`)
	b.fill("Code from the app", code(t, secret, h.Clock.Now()))
	b.reloaded(func() { b.click("button", "Turn on") })
	b.waitText("Two-factor authentication is on.")
	b.shot("recovery-codes")
	if n := strings.Count(b.html(), "<li><code>"); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}

	// Account > Sessions: this one and the other browser's; end that one.
	b.open(h.URL + "/account/sessions")
	b.shot("sessions")
	rows := b.tableRows("Your sessions")
	if len(rows) != 2 || !strings.Contains(rows[0]["Browser"], "This session") || !strings.Contains(rows[1]["Browser"], "Firefox on Linux") {
		t.Fatalf("sessions listed: %v", rows)
	}
	b.reloaded(func() { b.click("button", "End session") })
	b.waitText("The session has ended.")
	if other.loggedIn() {
		t.Error("the ended session still works")
	}

	b.logout()
	b.fill("Email", "alice@acme.test")
	b.fill("Password", testPassword)
	b.click("button", "Log in")
	b.waitURL("/login/two-factor")
	b.shot("second-step")
	h.Clock.Advance(30 * time.Second)
	b.fill("Authentication code", code(t, secret, h.Clock.Now()))
	b.click("button", "Verify")
	b.waitURL("/")
}
