package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/ratelimit/redistest"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/user"
)

// TestStartTogether starts three instances and a migrate at once on one
// empty PostgreSQL database, as an orchestrator does: each opens its own
// store, migrates, starts and creates the first Admin. All come up; the
// migrations run once and one Admin exists, created by one of them.
//
// Before the migration lock, two instances creating goose's version table
// at once failed on PostgreSQL's catalogue ("pg_type_typname_nsp_index"),
// and all but one died creating the Admin another had just created.
func TestStartTogether(t *testing.T) {
	url := storetest.PostgresURL(t)
	kek, err := keys.NewKEK("servertest key-encryption secret, 32+ chars")
	if err != nil {
		t.Fatal(err)
	}
	const instances = 3
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		errs    = make(chan error, instances+1)
	)
	for range instances {
		wg.Go(func() {
			st, err := store.OpenMigrated(t.Context(), url)
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() { st.Close() })
			cfg := server.Config{Store: st, KEK: kek, Password: user.CheapPasswordParams}
			servertest.ForBenchmarks(&cfg)
			srv, err := server.New(t.Context(), cfg)
			if err != nil {
				errs <- err
				return
			}
			t.Cleanup(func() { srv.Close() })
			c, _, err := srv.Users.Bootstrap(t.Context(), "", "")
			if err != nil {
				errs <- err
				return
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // sapient migrate
		st, err := store.Open(t.Context(), url)
		if err != nil {
			errs <- err
			return
		}
		defer st.Close()
		if _, err := st.Migrate(t.Context()); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("an instance failed to start: %v", err)
	}
	if created != 1 {
		t.Errorf("%d instances said they created the first Admin, want 1", created)
	}
	st := storetest.Open(t, url)
	if n, err := st.CountAdmins(t.Context()); err != nil || n != 1 {
		t.Errorf("Admins = %d, %v; want 1", n, err)
	}
	var applied, distinct int
	if err := st.DB().QueryRow(`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied != distinct || applied < 4 {
		t.Errorf("goose_db_version has %d migrations applied, %d distinct; want each once", applied, distinct)
	}
}

// get answers a GET of path on env's handler.
func get(env *servertest.Env, path string) (int, string) {
	w := httptest.NewRecorder()
	env.Server.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code, w.Body.String()
}

// TestLimitsAcrossInstances: three instances on one database, each with
// its own limiter, serve one credential limited to 10 token requests per
// second (burst 10). 60 requests spread over them at once: with Redis
// about 10 get a token, as from one instance; without, each instance
// grants its own 10.
func TestLimitsAcrossInstances(t *testing.T) {
	redisURL, prefix := redistest.URL(t)
	for _, b := range storetest.Backends() {
		for _, tc := range []struct {
			name        string
			redisURL    string
			least, most int
		}{
			{"redis", redisURL, 10, 12},
			{"per instance", "", 30, 33},
		} {
			t.Run(b.Name+"/"+tc.name, func(t *testing.T) {
				dbURL := b.Migrated(t)
				limit := func(c *server.Config) {
					c.TokenRateLimit, c.RedisURL, c.RedisPrefix = 10, tc.redisURL, prefix+b.Name+":"
					// A busy test machine sometimes takes longer than the
					// default 50ms, and a call that times out is limited
					// per instance: not what this test is about.
					c.RedisTimeout = time.Second
				}
				var envs []*servertest.Env
				for range 3 {
					envs = append(envs, servertest.Start(t, dbURL, limit))
				}
				c := envs[0].Credential(t, envs[0].Org(t, "Acme").ID, "billing", nil)
				for _, env := range envs[1:] { // each instance reads it once, not counted
					env.Server.Cache.Lookup(t.Context(), c.Credential.ClientID, time.Now())
				}
				start := time.Now()
				issued := 0
				for i := range 60 {
					w := httptest.NewRecorder()
					envs[i%3].Server.Handler().ServeHTTP(w, servertest.TokenRequest(c))
					switch w.Code {
					case http.StatusOK:
						issued++
					case http.StatusTooManyRequests:
					default:
						t.Fatalf("token request: %d %s", w.Code, w.Body)
					}
				}
				took := time.Since(start)
				t.Logf("%d of 60 token requests over three instances issued in %v", issued, took)
				// What the bucket refilled while the requests ran may add one.
				if most := tc.most + int(took.Seconds()*10); issued < tc.least || issued > most {
					t.Errorf("%d tokens issued, want %d to %d", issued, tc.least, most)
				}
				if tc.redisURL != "" {
					for _, env := range envs {
						if code, body := get(env, "/readyz"); code != 200 || !strings.Contains(body, "redis: up") {
							t.Errorf("/readyz = %d %q, want redis up; logs:\n%s", code, body, env.Logs)
						}
					}
				}
			})
		}
	}
}

// TestRedisUnreachable: an instance whose Redis does not answer starts,
// serves with its own limits, and says so once in its log, in /readyz
// (still ready) and in /metrics; the Redis password is never logged. A
// URL that is not a Redis URL stops the start with a clear error.
func TestRedisUnreachable(t *testing.T) {
	const password = "hunter2-redis-secret"
	closed := strings.Replace(redistest.ClosedURL(t), "redis://", "redis://:"+password+"@", 1)
	env := servertest.New(t, storetest.Backends()[0], func(c *server.Config) {
		c.TokenRateLimit, c.RedisURL = 3, closed
	})
	c := env.Credential(t, env.Org(t, "Acme").ID, "billing", nil)
	issued := 0
	for range 5 {
		w := httptest.NewRecorder()
		env.Server.Handler().ServeHTTP(w, servertest.TokenRequest(c))
		if w.Code == http.StatusOK {
			issued++
		}
	}
	if issued != 3 {
		t.Errorf("%d of 5 tokens issued, want the local limit of 3", issued)
	}
	if code, body := get(env, "/readyz"); code != 200 || !strings.Contains(body, "redis: down") {
		t.Errorf("/readyz = %d %q, want 200 saying redis is down", code, body)
	}
	if _, body := get(env, "/metrics"); !strings.Contains(body, "sapient_redis_up 0") {
		t.Errorf("/metrics has no sapient_redis_up 0")
	}
	logs := env.Logs.String()
	if n := strings.Count(logs, "redis unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	if strings.Contains(logs, password) {
		t.Error("the Redis password is in the log")
	}

	kek, err := keys.NewKEK("servertest key-encryption secret, 32+ chars")
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.New(t.Context(), server.Config{Store: env.Store, KEK: kek, RedisURL: "http://:" + password + "@127.0.0.1:6379"})
	if err == nil || !strings.Contains(err.Error(), "redis://") || strings.Contains(err.Error(), password) {
		t.Errorf("a wrong Redis URL: %v; want an error naming redis:// and not the password", err)
	}
}

// TestLoginThrottleAcrossInstances: with Redis, failed logins on two
// instances count together: after the free failures, spread over both,
// each refuses the next attempt.
func TestLoginThrottleAcrossInstances(t *testing.T) {
	redisURL, prefix := redistest.URL(t)
	dbURL := storetest.SQLiteURL(t)
	shared := func(c *server.Config) { c.RedisURL, c.RedisPrefix, c.RedisTimeout = redisURL, prefix, time.Second }
	envs := []*servertest.Env{servertest.Start(t, dbURL, shared), servertest.Start(t, dbURL, shared)}
	login := func(env *servertest.Env) int {
		form := url.Values{"email": {"nobody@acme.test"}, "password": {"not the password at all"}}
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		env.Server.Handler().ServeHTTP(w, r)
		return w.Code
	}
	for i := range user.DefaultAccountFree {
		if code := login(envs[i%2]); code != http.StatusUnprocessableEntity {
			t.Fatalf("failure %d = %d, want 422", i+1, code)
		}
	}
	for i, env := range envs {
		if code := login(env); code != http.StatusTooManyRequests {
			t.Errorf("instance %d after %d failures over both = %d, want 429", i+1, user.DefaultAccountFree, code)
		}
	}
}

// TestDatabaseOutage: PostgreSQL goes away (the test cuts the connection
// to it) and comes back. Meanwhile the instance issues tokens for the
// credential it holds in memory, /readyz answers 503, and the usage it
// counts waits in memory: once the database answers, every token is
// counted.
func TestDatabaseOutage(t *testing.T) {
	db := redistest.NewProxy(t, storetest.PostgresURL(t))
	env := servertest.Start(t, db.URL)
	c := env.Credential(t, env.Org(t, "Acme").ID, "billing", nil)
	env.Token(t, c)

	db.Cut()
	for i := range 5 {
		w := httptest.NewRecorder()
		env.Server.Handler().ServeHTTP(w, servertest.TokenRequest(c))
		if w.Code != http.StatusOK {
			t.Fatalf("token %d during the outage: %d %s", i+1, w.Code, w.Body)
		}
	}
	if code, body := get(env, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage = %d %q, want 503", code, body)
	}
	if err := env.Server.Usage.Flush(t.Context()); err == nil {
		t.Fatal("usage written during the outage")
	}

	db.Restore()
	// The pool finds out its connections are gone as it uses them.
	deadline := time.Now().Add(10 * time.Second)
	for env.Server.Usage.Flush(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("usage not written after the database came back: %v", env.Server.Usage.Flush(t.Context()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if issued, _ := totals(t, env.Store, c.Credential.ClientID); issued != 6 {
		t.Errorf("%d tokens counted, want all 6", issued)
	}
	if code, _ := get(env, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the outage = %d", code)
	}
}
