package cli_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/mail/mailtest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

type linkOut struct {
	userOut
	Owner    bool   `json:"owner"`
	Disabled bool   `json:"disabled"`
	Link     string `json:"link"`
	Mailed   bool   `json:"mailed"`
}

// TestUsersLifecycle: invite (printing the one-time link, and mailing it
// when SAPIENT_SMTP_URL is set), reset-link, update, disable, enable and
// delete, each with --json; refusals are one line on stderr and exit 1.
func TestUsersLifecycle(t *testing.T) {
	b := storetest.Backends()[0]
	s := newSapient(t, b)
	s.env["SAPIENT_ISSUER"] = "https://auth.example.com"
	s.ok(t, "", "orgs", "create", "Acme")
	s.ok(t, "", "orgs", "create", "Beta")
	okJSON[userOut](t, s, "root password long enough\n", "users", "create", "--email", "root@x.test", "--role", "admin", "--password-stdin", "--json")

	inv := okJSON[linkOut](t, s, "", "users", "invite", "--email", "pia@acme.test", "--role", "customer", "--org", "Acme", "--owner", "--json")
	if !strings.HasPrefix(inv.Link, "https://auth.example.com/link?token=") || !inv.Owner || inv.Mailed || inv.Email != "pia@acme.test" {
		t.Fatalf("invite = %+v", inv)
	}
	// The link printed is the user's invitation.
	st := storetest.Open(t, s.env["SAPIENT_DATABASE_URL"])
	svc := &user.Service{Store: st, Now: timeNow}
	lu, _ := url.Parse(inv.Link)
	if u, _, err := svc.CheckLink(t.Context(), lu.Query().Get("token")); err != nil || u.ID != inv.ID {
		t.Errorf("the printed link: %+v, %v", u, err)
	}

	// With SAPIENT_SMTP_URL the link is mailed too.
	smtpd := mailtest.Start(t)
	s.env["SAPIENT_SMTP_URL"] = smtpd.URL
	reset := okJSON[linkOut](t, s, "", "users", "reset-link", "pia@acme.test", "--json")
	if !reset.Mailed || reset.Link == "" {
		t.Errorf("reset-link = %+v", reset)
	}
	if got := smtpd.Wait(t, "pia@acme.test", "Reset").Link(); got != reset.Link {
		t.Errorf("mailed %q, printed %q", got, reset.Link)
	}
	s.env["SAPIENT_SMTP_URL"] = "smtp://u:p@[broken"
	if msg := s.fails(t, "", "users", "reset-link", "pia@acme.test", "--json"); !strings.Contains(msg, "SMTP URL is malformed") {
		t.Errorf("broken SMTP URL: %s", msg)
	}
	delete(s.env, "SAPIENT_SMTP_URL")

	// The list names organisations, says who has a second factor and who
	// has not come in yet, as Admin > Users does.
	root, err := st.GetUserByEmail(t.Context(), "root@x.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePasskey(t.Context(), store.Passkey{ID: "pk-1", UserID: root.ID, Name: "laptop", Credential: []byte("{}"), CreatedAt: timeNow()}); err != nil {
		t.Fatal(err)
	}
	list := okJSON[[]struct {
		Email     string `json:"email"`
		Org       string `json:"org"`
		TwoFactor bool   `json:"two_factor"`
	}](t, s, "", "users", "list", "--json")
	if len(list) != 2 || list[0].TwoFactor == list[1].TwoFactor {
		t.Fatalf("users list --json = %+v", list)
	}
	for _, u := range list {
		if (u.Email == "root@x.test") != u.TwoFactor || (u.Email == "pia@acme.test") != (u.Org == "Acme") {
			t.Errorf("users list --json: %+v", u)
		}
	}
	text := s.ok(t, "", "users", "list")
	if !regexp.MustCompile(`(?m)^EMAIL +ROLE +ORGANISATION +OWNER +TWO-FACTOR +STATUS$`).MatchString(text) ||
		!regexp.MustCompile(`(?m)^pia@acme\.test +customer +Acme +yes +no +invited$`).MatchString(text) ||
		!regexp.MustCompile(`(?m)^root@x\.test +admin +- +no +yes +active$`).MatchString(text) {
		t.Errorf("users list:\n%s", text)
	}

	upd := okJSON[linkOut](t, s, "", "users", "update", "pia@acme.test", "--owner=false", "--org", "Beta", "--json")
	if upd.Owner || upd.OrgID == inv.OrgID {
		t.Errorf("update = %+v", upd)
	}
	if d := okJSON[linkOut](t, s, "", "users", "disable", "pia@acme.test", "--json"); !d.Disabled {
		t.Errorf("disable = %+v", d)
	}
	if e := okJSON[linkOut](t, s, "", "users", "enable", "pia@acme.test", "--json"); e.Disabled {
		t.Errorf("enable = %+v", e)
	}
	s.ok(t, "", "users", "delete", "pia@acme.test")
	if list := s.ok(t, "", "users", "list"); strings.Contains(list, "pia@acme.test") || !strings.Contains(list, "root@x.test") {
		t.Errorf("list after delete:\n%s", list)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"users", "disable", "nobody@x.test"}, `no user with email "nobody@x.test"`},
		{[]string{"users", "disable", "root@x.test"}, "last active Admin"},
		{[]string{"users", "delete", "root@x.test"}, "last active Admin"},
		{[]string{"users", "update", "root@x.test", "--role", "customer", "--org", "Acme"}, "last active Admin"},
		{[]string{"users", "update", "root@x.test", "--role", "boss"}, "--role must be admin or customer"},
		{[]string{"users", "update", "root@x.test"}, "nothing to change"},
		{[]string{"users", "invite", "--email", "x@x.test", "--role", "admin", "--org", "Acme"}, "drop --org"},
		{[]string{"users", "invite", "--email", "not an email", "--role", "customer", "--org", "Acme"}, "valid email"},
		{[]string{"users", "invite", "--email", "root@x.test", "--role", "admin"}, "already exists"},
		{[]string{"users", "reset-link", "nobody@x.test"}, "no user with email"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--smtp-url", "http://mail.example.com"}, "--smtp-url: mail: the SMTP URL must begin with smtp://"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--smtp-url", "smtp://h/" + strings.Repeat("x", 5000)}, "SMTP URL is too long"},
	} {
		if msg := s.fails(t, "", tt.args...); !strings.Contains(msg, tt.want) {
			t.Errorf("%v: %s, want %q", tt.args, msg, tt.want)
		}
	}
	// No output ever holds a password hash.
	for _, out := range s.outputs {
		if strings.Contains(out, "argon2id") {
			t.Errorf("output holds a password hash: %s", out)
		}
	}
}

func timeNow() time.Time { return time.Now() }

// TestPasswordHashSetting: --password-hash (SAPIENT_PASSWORD_HASH) sets the
// argon2id parameters of the hashes the CLI makes; a bad value is one line
// on stderr and changes nothing.
func TestPasswordHashSetting(t *testing.T) {
	s := newSapient(t, storetest.Backends()[0])
	s.env["SAPIENT_PASSWORD_HASH"] = "t=2,p=1,m=256"
	s.ok(t, "a long enough password\n", "users", "create", "--email", "a@example.com", "--role", "admin", "--password-stdin")
	s.ok(t, "a long enough password\n", "users", "create", "--email", "b@example.com", "--role", "admin", "--password-stdin", "--password-hash", "m=128,t=1,p=2")
	for _, bad := range []string{"m=64", "m=64,t=1,p=1,m=64", "m=64,t=0,p=1", "m=64,t=1,x=1", "fast"} {
		r := s.run(t, "a long enough password\n", "users", "create", "--email", "c@example.com", "--role", "admin", "--password-stdin", "--password-hash", bad)
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "--password-hash") {
			t.Errorf("--password-hash %q: exit %d, stderr %q; want one line naming the flag", bad, r.code, r.stderr)
		}
	}
	st := storetest.Open(t, s.env["SAPIENT_DATABASE_URL"])
	for email, want := range map[string]string{"a@example.com": "$m=256,t=2,p=1$", "b@example.com": "$m=128,t=1,p=2$"} {
		u, err := st.GetUserByEmail(t.Context(), email)
		if err != nil || !strings.Contains(u.PasswordHash, want) {
			t.Errorf("%s: hash %q, %v; want the parameters %s", email, u.PasswordHash, err, want)
		}
	}
	if _, err := st.GetUserByEmail(t.Context(), "c@example.com"); err == nil {
		t.Error("a command refused for its --password-hash created its user")
	}
}
