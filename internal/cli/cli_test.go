package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"sapient.dev/sapient/internal/cli"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// sapient runs the command line in-process against one database.
type sapient struct {
	env     map[string]string
	outputs []string // everything printed, for the secret leak check
}

type result struct {
	code           int
	stdout, stderr string
}

func newSapient(t *testing.T, b storetest.Backend) *sapient {
	t.Helper()
	return &sapient{env: map[string]string{
		"SAPIENT_DATABASE_URL": b.Migrated(t),
		"SAPIENT_SECRET_KEY":   "cli test key-encryption secret, 32+ characters",
		// Password hashes at the cheapest argon2id parameters: the
		// defaults cost a tenth of a second of CPU and 64 MiB each.
		"SAPIENT_PASSWORD_HASH": user.CheapPasswordParams.String(),
	}}
}

func (s *sapient) getenv(k string) string { return s.env[k] }

func (s *sapient) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr, s.getenv)
	r := result{code, stdout.String(), stderr.String()}
	s.outputs = append(s.outputs, r.stdout, r.stderr)
	return r
}

// ok runs a command that must succeed.
func (s *sapient) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := s.run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("sapient %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail with exit 1 and one error line on
// stderr, and returns that line.
func (s *sapient) fails(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := s.run(t, stdin, args...)
	if r.code != 1 {
		t.Fatalf("sapient %s: exit %d, want 1 (stdout %q, stderr %q)", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("sapient %s failed but printed %q on stdout", strings.Join(args, " "), r.stdout)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if !strings.HasPrefix(line, "sapient: ") || strings.Contains(line, "\n") || len(line) <= len("sapient: ") {
		t.Fatalf("sapient %s: stderr %q, want one line \"sapient: ...\"", strings.Join(args, " "), r.stderr)
	}
	return line
}

// okJSON runs a command that must succeed and decodes its JSON output.
func okJSON[T any](t *testing.T, s *sapient, stdin string, args ...string) T {
	t.Helper()
	out := s.ok(t, stdin, args...)
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("sapient %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

type orgOut struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
}

type scopeOut struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Builtin     bool   `json:"builtin"`
	AdminOnly   bool   `json:"admin_only"`
}

type userOut struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
	OrgID string `json:"org_id"`
}

type credOut struct {
	ClientID     string     `json:"client_id"`
	ClientSecret *string    `json:"client_secret"`
	Name         string     `json:"name"`
	Org          string     `json:"org"`
	OrgID        string     `json:"org_id"`
	Scopes       []string   `json:"scopes"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by"`
	RevokedAt    *time.Time `json:"revoked_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
}

type keyOut struct {
	KID         string    `json:"kid"`
	Algorithm   string    `json:"algorithm"`
	CreatedAt   time.Time `json:"created_at"`
	ActivatesAt time.Time `json:"activates_at"`
}

func TestVersionHelpMigrate(t *testing.T) {
	s := newSapient(t, storetest.Backends()[0])
	if out := s.ok(t, "", "version"); out != "sapient "+cli.Version+"\n" {
		t.Fatalf("version printed %q", out)
	}
	help := s.ok(t, "", "--help")
	for _, cmd := range []string{"serve", "migrate", "orgs", "users", "scopes", "credentials", "keys", "version", "--database"} {
		if !strings.Contains(help, cmd) {
			t.Errorf("--help does not mention %s:\n%s", cmd, help)
		}
	}
	sub := s.ok(t, "", "credentials", "--help")
	for _, cmd := range []string{"create", "list", "revoke"} {
		if !strings.Contains(sub, cmd) {
			t.Errorf("credentials --help does not mention %s:\n%s", cmd, sub)
		}
	}
	if create := s.ok(t, "", "credentials", "create", "--help"); !strings.Contains(create, "--scopes") || !strings.Contains(create, "--json") {
		t.Errorf("credentials create --help lacks its flags:\n%s", create)
	}
	if users := s.ok(t, "", "users", "create", "--help"); !strings.Contains(users, "--password-stdin") {
		t.Errorf("users create --help lacks --password-stdin:\n%s", users)
	}

	for range 2 { // migrating twice is harmless
		if out := s.ok(t, "", "migrate"); !strings.HasPrefix(out, "database schema at version ") {
			t.Fatalf("migrate printed %q", out)
		}
	}
	s.fails(t, "", "no-such-command")
	s.fails(t, "", "orgs", "create", "Acme", "--no-such-flag")
	s.fails(t, "", "version", "extra")
}

func TestMigrateBadDatabase(t *testing.T) {
	s := &sapient{env: map[string]string{"SAPIENT_DATABASE_URL": filepath.Join(t.TempDir(), "missing", "dir", "x.db")}}
	s.fails(t, "", "migrate")
	s.fails(t, "", "orgs", "list")
}

func TestAdministration(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		s := newSapient(t, b)
		testAdministration(t, s)
	})
}

func testAdministration(t *testing.T, s *sapient) {
	// Organisations.
	acme := okJSON[orgOut](t, s, "", "orgs", "create", "Acme", "--json")
	if acme.Name != "Acme" || !strings.HasPrefix(acme.ID, "org_") || acme.CreatedAt.IsZero() {
		t.Fatalf("orgs create = %+v", acme)
	}
	defaults := scope.DefaultGrant()
	slices.Sort(defaults)
	got := slices.Clone(acme.Scopes)
	slices.Sort(got)
	if !slices.Equal(got, defaults) {
		t.Fatalf("new organisation may grant %q, want %q", acme.Scopes, defaults)
	}
	if msg := s.fails(t, "", "orgs", "create", "Acme", "--json"); !strings.Contains(msg, "already exists") {
		t.Fatalf("duplicate org: %q", msg)
	}
	s.fails(t, "", "orgs", "create", "ACME")
	s.fails(t, "", "orgs", "create", "  ")
	s.fails(t, "", "orgs", "create")
	if out := s.ok(t, "", "orgs", "create", "Beta"); !strings.Contains(out, "Beta") {
		t.Fatalf("orgs create (text) printed %q", out)
	}
	orgs := okJSON[[]orgOut](t, s, "", "orgs", "list", "--json")
	if len(orgs) != 2 || orgs[0].Name != "Acme" || orgs[1].Name != "Beta" {
		t.Fatalf("orgs list = %+v", orgs)
	}

	// Scopes.
	sc := okJSON[scopeOut](t, s, "", "scopes", "create", "shipments:read", "--description", "D", "--json")
	if sc.Name != "shipments:read" || sc.Description != "D" {
		t.Fatalf("scopes create = %+v", sc)
	}
	for _, bad := range []string{"Shipments:Read", "bad scope", "", ":x", strings.Repeat("a", 65), `quote"`} {
		if msg := s.fails(t, "", "scopes", "create", bad); !strings.Contains(msg, "scope") {
			t.Fatalf("scopes create %q: %q", bad, msg)
		}
	}
	if msg := s.fails(t, "", "scopes", "create", "shipments:read"); !strings.Contains(msg, "already exists") {
		t.Fatalf("duplicate scope: %q", msg)
	}
	scopes := okJSON[[]scopeOut](t, s, "", "scopes", "list", "--json")
	byName := map[string]scopeOut{}
	for _, sc := range scopes {
		byName[sc.Name] = sc
	}
	if c := byName["shipments:read"]; c.Builtin || c.AdminOnly || c.Description != "D" {
		t.Fatalf("custom scope listed as %+v", c)
	}
	if in := byName[scope.Introspect]; !in.Builtin || !in.AdminOnly {
		t.Fatalf("%s listed as %+v", scope.Introspect, in)
	}

	// Users.
	u := okJSON[userOut](t, s, "a long enough password\n", "users", "create", "--email", "a@b.test", "--role", "customer", "--org", "Acme", "--password-stdin", "--json")
	if u.Email != "a@b.test" || u.Role != "customer" || u.OrgID != acme.ID || u.ID == "" {
		t.Fatalf("users create = %+v", u)
	}
	admin := okJSON[userOut](t, s, "another long password", "users", "create", "--email", "root@b.test", "--role", "admin", "--password-stdin", "--json")
	if admin.Role != "admin" || admin.OrgID != "" {
		t.Fatalf("admin user = %+v", admin)
	}
	userFails := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"no --password-stdin", "a long enough password\n", []string{"--email", "c@b.test", "--role", "customer", "--org", "Acme"}, "--password-stdin"},
		{"empty stdin", "", []string{"--email", "c@b.test", "--role", "customer", "--org", "Acme", "--password-stdin"}, "password"},
		{"short password", "short\n", []string{"--email", "c@b.test", "--role", "customer", "--org", "Acme", "--password-stdin"}, "12"},
		{"duplicate email", "a long enough password\n", []string{"--email", "A@B.test", "--role", "customer", "--org", "Acme", "--password-stdin"}, ""},
		{"bad email", "a long enough password\n", []string{"--email", "not an email", "--role", "customer", "--org", "Acme", "--password-stdin"}, ""},
		{"bad role", "a long enough password\n", []string{"--email", "c@b.test", "--role", "root", "--password-stdin"}, ""},
		{"customer without org", "a long enough password\n", []string{"--email", "c@b.test", "--role", "customer", "--password-stdin"}, ""},
		{"unknown org", "a long enough password\n", []string{"--email", "c@b.test", "--role", "customer", "--org", "Nope", "--password-stdin"}, "Nope"},
		{"admin with org", "a long enough password\n", []string{"--email", "c@b.test", "--role", "admin", "--org", "Acme", "--password-stdin"}, "org"},
		{"no email", "a long enough password\n", []string{"--role", "customer", "--org", "Acme", "--password-stdin"}, "email"},
	}
	for _, tt := range userFails {
		t.Run("users create "+tt.name, func(t *testing.T) {
			msg := s.fails(t, tt.stdin, append([]string{"users", "create", "--json"}, tt.args...)...)
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q does not mention %q", msg, tt.want)
			}
			if pw := strings.TrimSpace(tt.stdin); pw != "" && strings.Contains(msg, pw) {
				t.Fatalf("error %q repeats the password", msg)
			}
		})
	}

	// Credentials: the CLI acts as Admin and may grant sapient:introspect.
	created := okJSON[credOut](t, s, "", "credentials", "create", "--org", "Acme", "--name", "billing",
		"--scopes", "credentials:read sapient:introspect", "--json")
	if created.ClientSecret == nil {
		t.Fatal("credentials create --json printed no client_secret")
	}
	secret := *created.ClientSecret
	if err := credential.CheckSecretFormat(secret); err != nil {
		t.Fatalf("client_secret %q: %v", secret, err)
	}
	if !strings.HasPrefix(created.ClientID, credential.ClientIDPrefix) || created.Name != "billing" ||
		created.Org != "Acme" || created.OrgID != acme.ID || created.Status != "active" || created.CreatedBy != "cli" {
		t.Fatalf("credentials create = %+v", created)
	}
	if !slices.Equal(created.Scopes, []string{"credentials:read", "sapient:introspect"}) {
		t.Fatalf("scopes = %q", created.Scopes)
	}
	leakCheckFrom := len(s.outputs)

	plain := s.ok(t, "", "credentials", "create", "--org", "Beta", "--name", "ops")
	if !strings.Contains(plain, "Client ID: sapci_") || !strings.Contains(plain, "Secret:    sapsk_") || !strings.Contains(plain, "never be shown again") {
		t.Fatalf("credentials create (text) printed %q", plain)
	}
	defaulted := okJSON[credOut](t, s, "", "credentials", "create", "--org", "Acme", "--name", "defaults", "--json")
	if got := slices.Clone(defaulted.Scopes); !slices.Equal(got, defaults) {
		t.Fatalf("without --scopes: %q, want the organisation's grant %q", got, defaults)
	}
	expiring := okJSON[credOut](t, s, "", "credentials", "create", "--org", "Acme", "--name", "temp", "--expires", "2099-01-31T00:00:00Z", "--json")
	if expiring.ExpiresAt == nil || !expiring.ExpiresAt.Equal(time.Date(2099, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("--expires gave %v", expiring.ExpiresAt)
	}
	credFails := []struct {
		name string
		args []string
		want string
	}{
		{"duplicate name", []string{"--org", "Acme", "--name", "billing"}, "billing"},
		{"duplicate name other case", []string{"--org", "Acme", "--name", "BILLING"}, "already exists"},
		{"unknown scope", []string{"--org", "Acme", "--name", "x", "--scopes", "nope:read"}, "nope:read"},
		{"unknown org", []string{"--org", "Nope", "--name", "x"}, "Nope"},
		{"empty name", []string{"--org", "Acme", "--name", "  "}, "Name"},
		{"long name", []string{"--org", "Acme", "--name", strings.Repeat("n", 65)}, "64"},
		{"no org", []string{"--name", "x"}, "org"},
		{"no name", []string{"--org", "Acme"}, "name"},
		{"bad expiry", []string{"--org", "Acme", "--name", "x", "--expires", "tomorrow"}, "RFC 3339"},
		{"past expiry", []string{"--org", "Acme", "--name", "x", "--expires", "2001-01-01T00:00:00Z"}, "future"},
	}
	for _, tt := range credFails {
		t.Run("credentials create "+tt.name, func(t *testing.T) {
			msg := s.fails(t, "", append([]string{"credentials", "create", "--json"}, tt.args...)...)
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q does not mention %q", msg, tt.want)
			}
		})
	}

	// Listing never shows a secret.
	list := okJSON[[]credOut](t, s, "", "credentials", "list", "--json")
	if len(list) != 4 {
		t.Fatalf("credentials list has %d entries, want 4", len(list))
	}
	find := func(list []credOut, id string) credOut {
		t.Helper()
		for _, c := range list {
			if c.ClientSecret != nil {
				t.Fatalf("credentials list shows client_secret for %s", c.ClientID)
			}
			if c.ClientID == id {
				return c
			}
		}
		t.Fatalf("credential %s not listed", id)
		return credOut{}
	}
	if c := find(list, created.ClientID); c.Status != "active" || c.Org != "Acme" || c.Name != "billing" || c.RevokedAt != nil {
		t.Fatalf("listed = %+v", c)
	}
	acmeOnly := okJSON[[]credOut](t, s, "", "credentials", "list", "--org", "Acme", "--json")
	if len(acmeOnly) != 3 {
		t.Fatalf("credentials list --org Acme has %d entries, want 3", len(acmeOnly))
	}
	for _, c := range acmeOnly {
		if c.OrgID != acme.ID {
			t.Fatalf("credentials list --org Acme shows %+v", c)
		}
	}
	s.fails(t, "", "credentials", "list", "--org", "Nope")
	text := s.ok(t, "", "credentials", "list")
	if !strings.Contains(text, created.ClientID) || !strings.Contains(text, "billing") || !strings.Contains(text, "active") {
		t.Fatalf("credentials list (text):\n%s", text)
	}

	// Revoke.
	if out := s.ok(t, "", "credentials", "revoke", created.ClientID); !strings.Contains(out, created.ClientID) {
		t.Fatalf("revoke printed %q", out)
	}
	list = okJSON[[]credOut](t, s, "", "credentials", "list", "--json")
	revoked := find(list, created.ClientID)
	if revoked.Status != "revoked" || revoked.RevokedAt == nil {
		t.Fatalf("after revoke: %+v", revoked)
	}
	if c := find(list, defaulted.ClientID); c.Status != "active" {
		t.Fatalf("revoke touched another credential: %+v", c)
	}
	if text := s.ok(t, "", "credentials", "list"); !strings.Contains(text, "revoked") {
		t.Fatalf("credentials list (text) does not show the revocation:\n%s", text)
	}
	again := okJSON[credOut](t, s, "", "credentials", "revoke", created.ClientID, "--json")
	if again.Status != "revoked" || again.RevokedAt == nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Fatalf("revoking twice = %+v, want the first revocation kept", again)
	}
	if msg := s.fails(t, "", "credentials", "revoke", "sapci_doesnotexist"); !strings.Contains(msg, "sapci_doesnotexist") {
		t.Fatalf("revoke unknown: %q", msg)
	}
	s.fails(t, "", "credentials", "revoke")
	// The name is free again once revoked.
	okJSON[credOut](t, s, "", "credentials", "create", "--org", "Acme", "--name", "billing", "--json")

	// Signing keys.
	rotated := okJSON[keyOut](t, s, "", "keys", "rotate", "--json")
	if rotated.KID == "" || rotated.Algorithm != "ES256" {
		t.Fatalf("keys rotate = %+v", rotated)
	}
	if lead := time.Until(rotated.ActivatesAt); lead < 10*time.Minute || lead > 16*time.Minute {
		t.Fatalf("rotated key signs from %v, want about 15 minutes from now", rotated.ActivatesAt)
	}
	ks := okJSON[[]keyOut](t, s, "", "keys", "list", "--json")
	if len(ks) != 2 {
		t.Fatalf("keys list = %+v, want the key that signs now and the rotated one", ks)
	}
	var signsNow string
	for _, k := range ks {
		if k.KID != rotated.KID && k.ActivatesAt.Before(time.Now()) {
			signsNow = k.KID
		}
	}
	if signsNow == "" || !slices.ContainsFunc(ks, func(k keyOut) bool { return k.KID == rotated.KID }) {
		t.Fatalf("keys list = %+v, want one key signing now and the rotated one", ks)
	}
	// A server started on this database now signs with the first key and
	// publishes both.
	st := storetest.Open(t, s.env["SAPIENT_DATABASE_URL"])
	kek, err := keys.NewKEK(s.env["SAPIENT_SECRET_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	m := &keys.Manager{Store: st, KEK: kek, Algorithm: jose.ES256, PublishLead: 15 * time.Minute, TokenTTL: time.Hour, Now: time.Now, Rand: rand.Reader}
	if err := m.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sign([]byte(`{}`)); err != nil {
		t.Fatalf("a server on this database cannot sign: %v", err)
	}
	if m.SigningKeyID() != signsNow {
		t.Fatalf("a server signs with %s, want %s (the rotated key must wait)", m.SigningKeyID(), signsNow)
	}
	if _, ok := m.PublicKey(rotated.KID); !ok {
		t.Fatal("the rotated key is not published")
	}
	if text := s.ok(t, "", "keys", "list"); !strings.Contains(text, rotated.KID) {
		t.Fatalf("keys list (text) lacks %s:\n%s", rotated.KID, text)
	}
	third := okJSON[keyOut](t, s, "", "keys", "rotate", "--activate-in", "0s", "--json")
	if third.ActivatesAt.After(time.Now()) {
		t.Fatalf("--activate-in 0s signs from %v", third.ActivatesAt)
	}
	if ks := okJSON[[]keyOut](t, s, "", "keys", "list", "--json"); len(ks) != 3 {
		t.Fatalf("after a second rotate %d keys, want 3", len(ks))
	}
	// Retiring the key that signs: it is listed as retired, a new one
	// signs, and a server on this database neither publishes the retired
	// key nor signs with it.
	var retired struct {
		KID        string `json:"kid"`
		Retired    bool   `json:"retired"`
		SigningKID string `json:"signing_kid"`
		NewKID     string `json:"new_kid"`
	}
	if err := json.Unmarshal([]byte(s.ok(t, "", "keys", "retire", third.KID, "--json")), &retired); err != nil {
		t.Fatal(err)
	}
	if !retired.Retired || retired.NewKID == "" || retired.SigningKID != retired.NewKID {
		t.Fatalf("keys retire = %+v, want a new key signing", retired)
	}
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.PublicKey(third.KID); ok || m.SigningKeyID() != retired.NewKID {
		t.Fatalf("after retiring %s a server publishes it (%v) or signs with %s, want %s", third.KID, ok, m.SigningKeyID(), retired.NewKID)
	}
	if text := s.ok(t, "", "keys", "list"); !strings.Contains(text, "RETIRED") {
		t.Fatalf("keys list (text) lacks the RETIRED column:\n%s", text)
	}
	if msg := s.fails(t, "", "keys", "retire", "no-such-key"); !strings.Contains(msg, "no such signing key") {
		t.Fatalf("retiring an unknown key: %q", msg)
	}
	// A key ID of an older key that begins with "-" is taken after "--",
	// and without it the error says so.
	if msg := s.fails(t, "", "keys", "retire", "-hFaKkQ-PCvAS8hWR7s0OXL9"); !strings.Contains(msg, "goes after --") {
		t.Fatalf("retiring a key ID that reads as a flag: %q", msg)
	}
	if msg := s.fails(t, "", "keys", "retire", "--", "-hFaKkQ-PCvAS8hWR7s0OXL9"); !strings.Contains(msg, "no such signing key") {
		t.Fatalf("retiring a key ID after --: %q", msg)
	}

	// The secret appeared once, in the create output, and never again.
	for i, out := range s.outputs[leakCheckFrom:] {
		if strings.Contains(out, secret) || strings.Contains(out, secret[len(credential.SecretPrefix):]) {
			t.Fatalf("output %d after create contains the secret:\n%s", i, out)
		}
	}
}

// TestKeysNeedSecretKeyOnPostgres: with PostgreSQL there is no key file,
// so a missing SAPIENT_SECRET_KEY is a clear error.
func TestKeysNeedSecretKeyOnPostgres(t *testing.T) {
	b := storetest.Backends()[1]
	s := newSapient(t, b)
	delete(s.env, "SAPIENT_SECRET_KEY")
	if msg := s.fails(t, "", "keys", "rotate"); !strings.Contains(msg, "SAPIENT_SECRET_KEY") {
		t.Fatalf("keys rotate without a secret key on PostgreSQL: %q", msg)
	}
	s.env["SAPIENT_SECRET_KEY"] = "short"
	s.fails(t, "", "keys", "rotate")
}

// TestKeyFileBesideDatabase: on SQLite, keys rotate keeps the
// key-encryption key in a 0600 file beside the database, and a second
// command reads the same one.
func TestKeyFileBesideDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sapient.db")
	s := &sapient{env: map[string]string{}}
	s.ok(t, "", "--database", db, "keys", "rotate")
	st, err := os.Stat(db + ".key")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode().Perm())
	}
	s.ok(t, "", "--database", db, "keys", "rotate") // decrypts the first keys
	if err := os.Chmod(db+".key", 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := s.fails(t, "", "--database", db, "keys", "rotate"); !strings.Contains(msg, "chmod 600") {
		t.Fatalf("readable key file: %q", msg)
	}
	if err := os.Chmod(db+".key", 0o600); err != nil {
		t.Fatal(err)
	}
	s.env["SAPIENT_SECRET_KEY"] = "a different secret key of 32+ characters"
	if msg := s.fails(t, "", "--database", db, "keys", "rotate"); !strings.Contains(msg, "SAPIENT_SECRET_KEY") {
		t.Fatalf("wrong key: %q", msg)
	}
}
