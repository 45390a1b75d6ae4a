package console_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/console"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// gatedStore holds every look-up of an email of the flood until open is
// closed, so that the test decides when the flood's password checks end.
type gatedStore struct {
	store.Store
	open chan struct{}
}

func (g *gatedStore) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	if strings.HasSuffix(email, "@flood.test") {
		select {
		case <-g.open:
		case <-ctx.Done():
			return store.User{}, ctx.Err()
		}
	}
	return g.Store.GetUserByEmail(ctx, email)
}

// floodSite is the console with a small login queue (one check at a time,
// one login waiting in the first line, four in the second), believing
// X-Forwarded-For from the test, on a real store.
type floodSite struct {
	URL   string
	Queue *user.LoginQueue
	Gate  chan struct{}
}

func newFloodSite(t *testing.T) *floodSite {
	t.Helper()
	st := storetest.New(t, sqlite)
	if err := scope.EnsureBuiltin(t.Context(), st, time.Now()); err != nil {
		t.Fatal(err)
	}
	f := &floodSite{Queue: &user.LoginQueue{Checks: 1, Waiting: 1, Suspect: 4}, Gate: make(chan struct{})}
	users := &user.Service{Store: &gatedStore{Store: st, open: f.Gate}, Now: time.Now, Rand: rand.Reader, Password: user.CheapPasswordParams}
	if _, err := users.Create(t.Context(), access.CLI, user.CreateRequest{Email: "admin@sapient.test", Password: testPassword, Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	f.URL = "http://" + srv.Listener.Addr().String()
	c, err := console.New(console.Config{
		Store: st, Users: users, Credentials: &credential.Service{Store: st, Now: time.Now, Rand: rand.Reader},
		Issuer: f.URL, Logger: slog.New(slog.DiscardHandler), Logins: f.Queue,
		ClientIP: &clientip.Resolver{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

// loginReply is the answer to one login.
type loginReply struct {
	status     int
	retryAfter string
	body       string
	err        error
}

// login posts the login form from the address ip.
func (f *floodSite) login(ctx context.Context, ip, email, password string) loginReply {
	form := url.Values{"email": {email}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return loginReply{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return loginReply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return loginReply{resp.StatusCode, resp.Header.Get("Retry-After"), string(b), err}
}

// TestLoginFlood holds issue 19's flood: 400 wrong-password logins from
// 40 addresses, each under the per-address throttle. Those the bounded
// queue cannot hold are answered at once, 503 with Retry-After on the
// login page; the queue never holds more than its size; and during the
// flood the Admin, from an address of their own, logs in at the first
// attempt.
func TestLoginFlood(t *testing.T) {
	f := newFloodSite(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a safety net, not a measure
	defer cancel()
	const addresses, perAddress = 40, 10
	held := 1 + 1 + 4 // checks, first line, second line
	attacker := func(a int) string { return fmt.Sprintf("198.51.100.%d", a+1) }

	// The flood arrives while every check it reaches is held.
	replies := make(chan loginReply, addresses*perAddress)
	var flood sync.WaitGroup
	for a := range addresses {
		for i := range perAddress {
			flood.Go(func() {
				replies <- f.login(ctx, attacker(a), fmt.Sprintf("user%d-%d@flood.test", a, i), "not the password at all")
			})
		}
	}
	for n := range addresses*perAddress - held {
		var r loginReply
		select {
		case r = <-replies:
		case <-ctx.Done():
			t.Fatalf("only %d of %d logins answered while the queue was full", n, addresses*perAddress-held)
		}
		if r.err != nil || r.status != http.StatusServiceUnavailable || r.retryAfter != "1" ||
			!strings.Contains(r.body, "Sapient is busy checking other logins. Try again in 1 second.") ||
			!strings.Contains(r.body, `<form method="post" action="/login">`) {
			t.Fatalf("a login refused for a full queue: %d, Retry-After %q, %v\n%s", r.status, r.retryAfter, r.err, r.body)
		}
	}
	if running, waiting, suspect := f.Queue.Len(); running != 1 || waiting != 1 || suspect != 4 {
		t.Fatalf("queue holds %d running, %d + %d waiting; want 1, 1 + 4", running, waiting, suspect)
	}

	// The held checks end, and the flood goes on: each address sends its
	// next wrong password as soon as it has an answer, until the Admin
	// is in. Every address soon has a failure counted against it.
	close(f.Gate)
	for range held {
		if r := <-replies; r.status != http.StatusUnprocessableEntity {
			t.Fatalf("a held login = %d, want its password checked", r.status)
		}
	}
	flood.Wait()
	stop := make(chan struct{})
	var mu sync.Mutex
	checked := map[string]bool{}
	allChecked := make(chan struct{})
	for a := range addresses {
		flood.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := f.login(ctx, attacker(a), fmt.Sprintf("again%d-%d@flood.test", a, i), "not the password at all")
				switch {
				case r.err != nil:
					return
				case r.status == http.StatusUnprocessableEntity:
					mu.Lock()
					if !checked[attacker(a)] {
						if checked[attacker(a)] = true; len(checked) == addresses {
							close(allChecked)
						}
					}
					mu.Unlock()
				case r.status != http.StatusServiceUnavailable && r.status != http.StatusTooManyRequests:
					t.Errorf("a login of the flood = %d", r.status)
					return
				}
			}
		})
	}
	select {
	case <-allChecked:
	case <-ctx.Done():
		t.Fatal("the flood's addresses never all had a password checked")
	}
	r := f.login(ctx, "203.0.113.7", "admin@sapient.test", testPassword)
	close(stop)
	flood.Wait()
	if r.err != nil || r.status != http.StatusSeeOther {
		t.Fatalf("the Admin's login during the flood = %d, %v, want 303 (logged in)\n%s", r.status, r.err, r.body)
	}
}

// TestLoginFormTooLarge checks that a login form over the limit is told
// so, naming the fields and their limits, not that the password is wrong.
func TestLoginFormTooLarge(t *testing.T) {
	f := newFloodSite(t)
	r := f.login(t.Context(), "203.0.113.7", "admin@sapient.test", strings.Repeat("x", 70<<10))
	if r.status != http.StatusRequestEntityTooLarge || strings.Contains(r.body, "Email or password is incorrect.") ||
		!strings.Contains(r.body, "The login form is too large") || !strings.Contains(r.body, "email address of at most 254 characters") ||
		!strings.Contains(r.body, `<form method="post" action="/login">`) {
		t.Fatalf("a 70 KiB login = %d\n%s", r.status, r.body)
	}
}
