package storetest

import (
	"errors"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// testUserLifecycle covers what the life of a person's access needs: the
// disabled, owner and last login fields, active Admins, deleting a user
// with their sessions and links, and one-time links used once.
func testUserLifecycle(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	admin := store.User{ID: "usr_a", Email: "a@x.test", PasswordHash: "h", Role: store.RoleAdmin, CreatedAt: base, PasswordChangedAt: base}
	admin2 := store.User{ID: "usr_b", Email: "b@x.test", PasswordHash: "h", Role: store.RoleAdmin, CreatedAt: base, PasswordChangedAt: base}
	owner := store.User{ID: "usr_c", Email: "c@x.test", Role: store.RoleCustomer, OrgID: "org_1", Owner: true, CreatedAt: base, PasswordChangedAt: base}
	for _, u := range []store.User{admin, admin2, owner} {
		if err := s.CreateUser(ctx(t), u); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.Email, err)
		}
	}
	if got, err := s.GetUser(ctx(t), "usr_c"); err != nil || got != owner {
		t.Errorf("GetUser(owner) = %+v, %v; want %+v", got, err, owner)
	}
	if ids, err := s.ActiveAdmins(ctx(t)); err != nil || len(ids) != 2 {
		t.Errorf("ActiveAdmins = %v, %v; want two", ids, err)
	}
	off, login := base.Add(time.Hour), base.Add(time.Minute)
	got, err := s.UpdateUser(ctx(t), "usr_b", func(u store.User) (store.User, error) {
		u.DisabledAt, u.LastLoginAt = off, login
		return u, nil
	})
	if err != nil || !got.Disabled() || got.CreatedAt != base {
		t.Fatalf("UpdateUser(disable) = %+v, %v", got, err)
	}
	if got, _ := s.GetUser(ctx(t), "usr_b"); !got.DisabledAt.Equal(off) || !got.LastLoginAt.Equal(login) {
		t.Errorf("after disabling: %+v", got)
	}
	if ids, err := s.ActiveAdmins(ctx(t)); err != nil || len(ids) != 1 || ids[0] != "usr_a" {
		t.Errorf("ActiveAdmins after disabling one = %v, %v; want [usr_a]", ids, err)
	}
	if n, _ := s.CountAdmins(ctx(t)); n != 2 {
		t.Errorf("CountAdmins = %d, want 2 (disabled ones count)", n)
	}

	// One-time links: stored by digest, used once.
	l := store.UserLink{ID: "digest1", UserID: "usr_c", Purpose: store.LinkInvite, CreatedAt: base, ExpiresAt: base.Add(72 * time.Hour)}
	if err := s.CreateUserLink(ctx(t), l); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetUserLink(ctx(t), "digest1"); err != nil || got != l {
		t.Errorf("GetUserLink = %+v, %v; want %+v", got, err, l)
	}
	if _, err := s.GetUserLink(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserLink(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.UseUserLink(ctx(t), "digest1", base.Add(time.Minute)); err != nil {
		t.Fatalf("UseUserLink: %v", err)
	}
	if err := s.UseUserLink(ctx(t), "digest1", base.Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second UseUserLink = %v, want ErrNotFound", err)
	}
	if got, _ := s.GetUserLink(ctx(t), "digest1"); !got.UsedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("UsedAt = %v", got.UsedAt)
	}
	for _, id := range []string{"digest2", "digest3"} {
		if err := s.CreateUserLink(ctx(t), store.UserLink{ID: id, UserID: "usr_c", Purpose: store.LinkReset, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUserLinks(ctx(t), "usr_c", store.LinkReset); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUserLink(ctx(t), "digest2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reset link after DeleteUserLinks: %v", err)
	}
	if _, err := s.GetUserLink(ctx(t), "digest1"); err != nil {
		t.Errorf("the used invitation went with the unused resets: %v", err)
	}

	// Deleting a user takes their sessions and links.
	if err := s.CreateSession(ctx(t), store.Session{ID: "s1", UserID: "usr_c", CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx(t), "usr_c"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx(t), "usr_c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser after delete: %v", err)
	}
	if _, err := s.GetSession(ctx(t), "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after DeleteUser: %v", err)
	}
	if _, err := s.GetUserLink(ctx(t), "digest1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("link after DeleteUser: %v", err)
	}
	if err := s.DeleteUser(ctx(t), "usr_c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser(again) = %v, want ErrNotFound", err)
	}
}
