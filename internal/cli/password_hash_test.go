package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/store/storetest"
)

// TestServePasswordHash: serve hashes with the argon2id parameters of
// SAPIENT_PASSWORD_HASH (the first Admin's password here), and warns in its
// log when they are below OWASP's least recommended configuration.
func TestServePasswordHash(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sapient.db")
	srv := startServe(t, map[string]string{"SAPIENT_DATABASE_URL": db,
		"SAPIENT_ADMIN_EMAIL": "admin@example.com", "SAPIENT_ADMIN_PASSWORD": "a long enough password",
		"SAPIENT_PASSWORD_HASH": "m=64,t=1,p=1"})
	logs := &srv.logs
	if code := srv.stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, logs.String())
	}
	if !strings.Contains(logs.String(), `"password_hash":"m=64,t=1,p=1"`) || !strings.Contains(logs.String(), "weaker than OWASP") {
		t.Errorf("no warning of weak password hashes in the log:\n%s", logs.String())
	}
	admin, err := storetest.Open(t, db).GetUserByEmail(t.Context(), "admin@example.com")
	if err != nil || !strings.Contains(admin.PasswordHash, "$m=64,t=1,p=1$") {
		t.Errorf("the first Admin's hash is %q, %v; want the parameters m=64,t=1,p=1", admin.PasswordHash, err)
	}
}
