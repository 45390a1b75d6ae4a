package user_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// TestFromRequest: the session cookie of a request becomes the person's
// access.Actor, with the request's address and user agent; a request
// without a valid session cookie has no person behind it.
func TestFromRequest(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := storetest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	if err := s.CreateOrg(t.Context(), store.Org{ID: "org_a", Name: "Acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	u := store.User{ID: "usr_1", Email: "ada@example.com", PasswordHash: "-", Role: store.RoleCustomer, OrgID: "org_a", CreatedAt: now,
		PasswordChangedAt: now}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	sessions := &user.Sessions{Store: s, Now: func() time.Time { return now }}
	token, _, err := sessions.Start(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	request := func(cookie, value string) *http.Request {
		r := httptest.NewRequest("GET", "/api/v1/credentials", nil)
		r.Header.Set("User-Agent", "Mozilla/5.0 (test)")
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: cookie, Value: value})
		}
		return r
	}

	c, err := sessions.FromRequest(request(user.CookieName(false), token), false, "192.0.2.7")
	want := access.Actor{Kind: access.KindUser, ID: "usr_1", Label: "ada@example.com", Role: store.RoleCustomer, OrgID: "org_a",
		IP: "192.0.2.7", UserAgent: "Mozilla/5.0 (test)"}
	if err != nil || c.User.ID != u.ID || c.Token != token {
		t.Fatalf("FromRequest = %+v, %v; want the session of %s", c, err, u.ID)
	}
	if c.Actor.Kind != want.Kind || c.Actor.ID != want.ID || c.Actor.Label != want.Label || c.Actor.Role != want.Role ||
		c.Actor.OrgID != want.OrgID || c.Actor.IP != want.IP || c.Actor.UserAgent != want.UserAgent || c.Actor.IsAdmin() {
		t.Errorf("FromRequest actor = %+v, want %+v", c.Actor, want)
	}

	for name, r := range map[string]*http.Request{
		"no cookie":                      request("", ""),
		"unknown token":                  request(user.CookieName(false), "not-a-session"),
		"empty token":                    request(user.CookieName(false), ""),
		"cookie of plain HTTP under TLS": request(user.CookieName(false), token),
	} {
		secure := name == "cookie of plain HTTP under TLS"
		if c, err := sessions.FromRequest(r, secure, "192.0.2.7"); !errors.Is(err, user.ErrNoSession) {
			t.Errorf("%s: FromRequest = %+v, %v; want ErrNoSession", name, c, err)
		}
	}
}
