package storetest

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

func mustUser(t *testing.T, s store.Store, id, email string) store.User {
	t.Helper()
	u := store.User{ID: id, Email: email, PasswordHash: "h", Role: store.RoleAdmin, CreatedAt: base, PasswordChangedAt: base}
	if err := s.CreateUser(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// testSessionList checks what a session remembers for the list of
// sessions, and that the list holds only the user's own.
func testSessionList(t *testing.T, s store.Store) {
	mustUser(t, s, "usr_1", "a@b.test")
	mustUser(t, s, "usr_2", "c@d.test")
	want := store.Session{ID: "s1", UserID: "usr_1", CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour),
		UserAgent: "Mozilla/5.0 Firefox/140.0", IP: "192.0.2.1", Pending: store.PendingSecondFactor}
	for _, se := range []store.Session{want,
		{ID: "s2", UserID: "usr_1", CreatedAt: base.Add(time.Minute), LastSeenAt: base, ExpiresAt: base.Add(time.Hour)},
		{ID: "s3", UserID: "usr_2", CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour)},
	} {
		if err := s.CreateSession(ctx(t), se); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.GetSession(ctx(t), "s1"); err != nil || got != want {
		t.Errorf("GetSession = %+v, %v; want %+v", got, err, want)
	}
	list, err := s.ListUserSessions(ctx(t), "usr_1")
	if err != nil || len(list) != 2 || list[0].ID != "s2" || list[1] != want {
		t.Errorf("ListUserSessions = %+v, %v", list, err)
	}
}

func testTOTP(t *testing.T, s store.Store) {
	mustUser(t, s, "usr_1", "a@b.test")
	if _, err := s.GetTOTP(ctx(t), "usr_1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTOTP before any: %v, want ErrNotFound", err)
	}
	if err := s.PutTOTP(ctx(t), store.TOTP{UserID: "usr_1", Secret: "sealed-1", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTOTP(ctx(t), store.TOTP{UserID: "usr_1", Secret: "sealed-2", CreatedAt: base}); err != nil {
		t.Fatalf("PutTOTP replacing: %v", err)
	}
	if users, err := s.TwoFactorUsers(ctx(t)); err != nil || users["usr_1"] {
		t.Errorf("TwoFactorUsers with an unconfirmed authenticator = %v, %v", users, err)
	}
	abort := errors.New("abort")
	if _, err := s.UpdateTOTP(ctx(t), "usr_1", func(store.TOTP) (store.TOTP, error) { return store.TOTP{}, abort }); err != abort {
		t.Errorf("UpdateTOTP abort: %v", err)
	}
	up, err := s.UpdateTOTP(ctx(t), "usr_1", func(o store.TOTP) (store.TOTP, error) {
		o.ConfirmedAt, o.LastStep = base.Add(time.Minute), 42
		return o, nil
	})
	if err != nil || up.Secret != "sealed-2" || up.LastStep != 42 {
		t.Errorf("UpdateTOTP = %+v, %v", up, err)
	}
	got, err := s.GetTOTP(ctx(t), "usr_1")
	if err != nil || got.Secret != "sealed-2" || got.LastStep != 42 || !got.ConfirmedAt.Equal(base.Add(time.Minute)) || !got.CreatedAt.Equal(base) {
		t.Errorf("GetTOTP = %+v, %v", got, err)
	}
	if users, err := s.TwoFactorUsers(ctx(t)); err != nil || !users["usr_1"] {
		t.Errorf("TwoFactorUsers = %v, %v", users, err)
	}
	if _, err := s.UpdateTOTP(ctx(t), "usr_none", func(o store.TOTP) (store.TOTP, error) { return o, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateTOTP(unknown): %v", err)
	}
	if err := s.DeleteTOTP(ctx(t), "usr_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTOTP(ctx(t), "usr_1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTOTP after delete: %v", err)
	}
}

func testRecoveryCodes(t *testing.T, s store.Store) {
	mustUser(t, s, "usr_1", "a@b.test")
	mustUser(t, s, "usr_2", "c@d.test")
	if err := s.SetRecoveryCodes(ctx(t), "usr_1", []string{"d1", "d2", "d3"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UseRecoveryCode(ctx(t), "usr_2", "d1", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another user's code: %v, want ErrNotFound", err)
	}
	if err := s.UseRecoveryCode(ctx(t), "usr_1", "d1", base); err != nil {
		t.Errorf("UseRecoveryCode: %v", err)
	}
	if err := s.UseRecoveryCode(ctx(t), "usr_1", "d1", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a used code again: %v, want ErrNotFound", err)
	}
	if n, err := s.CountRecoveryCodes(ctx(t), "usr_1"); err != nil || n != 2 {
		t.Errorf("CountRecoveryCodes = %d, %v; want 2", n, err)
	}
	if err := s.SetRecoveryCodes(ctx(t), "usr_1", []string{"d1"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountRecoveryCodes(ctx(t), "usr_1"); err != nil || n != 1 {
		t.Errorf("CountRecoveryCodes after replacing = %d, %v; want 1", n, err)
	}
}

func testPasskeys(t *testing.T, s store.Store) {
	mustUser(t, s, "usr_1", "a@b.test")
	mustUser(t, s, "usr_2", "c@d.test")
	p := store.Passkey{ID: "cred-1", UserID: "usr_1", Name: "Laptop", Credential: []byte(`{"a":1}`), CreatedAt: base}
	if err := s.CreatePasskey(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePasskey(ctx(t), store.Passkey{ID: "cred-1", UserID: "usr_2", Name: "x", Credential: []byte(`{}`), CreatedAt: base}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("a second passkey with the same ID: %v, want ErrAlreadyExists", err)
	}
	if err := s.UpdatePasskeyUse(ctx(t), "cred-1", []byte(`{"a":2}`), base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPasskey(ctx(t), "cred-1")
	if err != nil || got.UserID != "usr_1" || got.Name != "Laptop" || string(got.Credential) != `{"a":2}` || !got.LastUsedAt.Equal(base.Add(time.Hour)) {
		t.Errorf("GetPasskey = %+v, %v", got, err)
	}
	if list, err := s.ListPasskeys(ctx(t), "usr_2"); err != nil || len(list) != 0 {
		t.Errorf("ListPasskeys(usr_2) = %+v, %v", list, err)
	}
	if users, err := s.TwoFactorUsers(ctx(t)); err != nil || !users["usr_1"] || users["usr_2"] {
		t.Errorf("TwoFactorUsers = %v, %v", users, err)
	}
	if err := s.DeletePasskey(ctx(t), "usr_2", "cred-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePasskey of another user: %v, want ErrNotFound", err)
	}
	if err := s.DeletePasskey(ctx(t), "usr_1", "cred-1"); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListPasskeys(ctx(t), "usr_1"); err != nil || len(list) != 0 {
		t.Errorf("ListPasskeys after delete = %+v, %v", list, err)
	}
}

func testChallenges(t *testing.T, s store.Store) {
	c := store.Challenge{ID: "ch1", UserID: "usr_1", Data: []byte(`{"challenge":"x"}`), ExpiresAt: base.Add(5 * time.Minute)}
	if err := s.CreateChallenge(ctx(t), c, base); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateChallenge(ctx(t), store.Challenge{ID: "ch2", Data: []byte(`{}`), ExpiresAt: base.Add(time.Minute)}, base); err != nil {
		t.Fatal(err)
	}
	got, err := s.TakeChallenge(ctx(t), "ch1", base)
	if err != nil || got.UserID != "usr_1" || string(got.Data) != string(c.Data) {
		t.Errorf("TakeChallenge = %+v, %v", got, err)
	}
	if _, err := s.TakeChallenge(ctx(t), "ch1", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeChallenge twice: %v, want ErrNotFound", err)
	}
	if _, err := s.TakeChallenge(ctx(t), "ch2", base.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeChallenge expired: %v, want ErrNotFound", err)
	}
	// Creating a challenge deletes the expired ones.
	for _, id := range []string{"old", "new"} {
		if err := s.CreateChallenge(ctx(t), store.Challenge{ID: id, Data: []byte(`{}`), ExpiresAt: base.Add(time.Minute)}, base); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateChallenge(ctx(t), store.Challenge{ID: "later", Data: []byte(`{}`), ExpiresAt: base.Add(time.Hour)}, base.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.(interface{ DB() *sql.DB }).DB().QueryRowContext(ctx(t), `SELECT count(*) FROM webauthn_challenges`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d challenges after expiry, want 1 (%v)", n, err)
	}
}

func testTwoFactorPolicy(t *testing.T, s store.Store) {
	for _, org := range []string{"", "org_1"} {
		if got, err := s.TwoFactorPolicy(ctx(t), org); err != nil || got != store.RequireNobody {
			t.Errorf("TwoFactorPolicy(%q) unset = %q, %v", org, got, err)
		}
	}
	if err := s.SetTwoFactorPolicy(ctx(t), "", store.RequireAdmins); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTwoFactorPolicy(ctx(t), "org_1", store.RequireEveryone); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTwoFactorPolicy(ctx(t), "", store.RequireEveryone); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TwoFactorPolicy(ctx(t), ""); got != store.RequireEveryone {
		t.Errorf("global policy = %q", got)
	}
	if got, _ := s.TwoFactorPolicy(ctx(t), "org_1"); got != store.RequireEveryone {
		t.Errorf("org policy = %q", got)
	}
	if err := s.SetTwoFactorPolicy(ctx(t), "org_1", store.RequireNobody); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TwoFactorPolicy(ctx(t), "org_1"); got != store.RequireNobody {
		t.Errorf("org policy after clearing = %q", got)
	}
}
