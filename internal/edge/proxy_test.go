package edge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/usage"
)

// requireProxiesEnv makes a missing nginx or caddy a failure rather than
// a skip (CI sets it).
const requireProxiesEnv = "SAPIENT_TEST_REQUIRE_PROXIES"

// The addresses the files in docs/examples name, which a test replaces
// with its own.
const (
	exampleSapient = "127.0.0.1:8080"
	exampleAPI     = "127.0.0.1:9000"
	exampleNginx   = "127.0.0.1:8000"
	exampleCaddy   = "127.0.0.1:8001"
)

// proxy is one reverse proxy in front of a test upstream, configured by
// the files shipped in docs/examples.
type proxy struct {
	name  string
	start func(t *testing.T, sapient, upstream string) string // returns the proxy's base URL
}

var proxies = []proxy{
	{"nginx", startNginx},
	{"caddy", startCaddy},
}

// TestRealProxies runs Debian's nginx (auth_request) and Caddy
// (forward_auth) with the configurations of docs/examples in front of an
// upstream that echoes the headers it receives, and a real OAuth client
// calling through each.
func TestRealProxies(t *testing.T) {
	for _, p := range proxies {
		t.Run(p.name, func(t *testing.T) {
			env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(map[string]string{
					"path":      r.URL.Path,
					"client_id": strings.Join(r.Header.Values("X-Sapient-Client-Id"), ","),
					"org_id":    r.Header.Get("X-Sapient-Org-Id"),
					"name":      r.Header.Get("X-Sapient-Credential-Name"),
					"scope":     r.Header.Get("X-Sapient-Scope"),
				})
			}))
			t.Cleanup(upstream.Close)
			base := p.start(t, strings.TrimPrefix(env.URL, "http://"), strings.TrimPrefix(upstream.URL, "http://"))

			ctx := t.Context()
			acme := env.Org(t, "Acme")
			if _, err := scope.Create(ctx, env.Store, access.CLI, "shipments:read", "Read shipments", time.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := org.Grant(ctx, env.Store, access.CLI, acme.ID, []string{"shipments:read"}, time.Now); err != nil {
				t.Fatal(err)
			}
			shipper := env.Credential(t, acme.ID, "shipper", []string{"shipments:read"})
			reader := env.Credential(t, acme.ID, "reader", []string{scope.UsageRead})
			client := func(c credential.Created) *http.Client {
				cc := clientcredentials.Config{ClientID: c.Credential.ClientID, ClientSecret: c.Secret, TokenURL: env.URL + "/connect/token"}
				return cc.Client(ctx)
			}
			call := func(t *testing.T, hc *http.Client, path string, header http.Header) (*http.Response, map[string]string) {
				t.Helper()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
				for k, v := range header {
					req.Header[k] = v
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var got map[string]string
				if resp.StatusCode == 200 {
					if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
						t.Fatal(err)
					}
				}
				return resp, got
			}

			t.Run("accepted, with the identity upstream", func(t *testing.T) {
				forged := http.Header{"X-Sapient-Client-Id": {"sapci_forged"}, "X-Sapient-Scope": {"admin"}}
				resp, got := call(t, client(shipper), "/shipments/1", forged)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d, want 200", resp.StatusCode)
				}
				want := map[string]string{"path": "/shipments/1", "client_id": shipper.Credential.ClientID, "org_id": acme.ID,
					"name": "shipper", "scope": "shipments:read"}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("upstream got %s %q, want %q (all: %v)", k, got[k], v, got)
					}
				}
			})
			t.Run("no token", func(t *testing.T) {
				resp, _ := call(t, http.DefaultClient, "/orders/1", nil)
				if n := len(resp.Header.Values("WWW-Authenticate")); n != 1 {
					t.Errorf("%d WWW-Authenticate headers, want 1", n)
				}
				if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("status %d, WWW-Authenticate %q; want 401 and a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
				}
			})
			t.Run("missing scope", func(t *testing.T) {
				resp, _ := call(t, client(reader), "/shipments/1", nil)
				if n := len(resp.Header.Values("WWW-Authenticate")); n != 1 {
					t.Errorf("%d WWW-Authenticate headers, want 1", n)
				}
				if c := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 403 || !strings.Contains(c, `error="insufficient_scope"`) {
					t.Errorf("status %d, WWW-Authenticate %q; want 403 insufficient_scope", resp.StatusCode, c)
				}
				if resp, _ := call(t, client(reader), "/orders/1", nil); resp.StatusCode != 200 {
					t.Errorf("a location that needs no scope: %d, want 200", resp.StatusCode)
				}
			})
			t.Run("rate limited", func(t *testing.T) {
				beta := env.Org(t, "Beta")
				if _, err := org.SetLimits(ctx, env.Store, access.CLI, beta.ID, 0, 1, time.Now); err != nil {
					t.Fatal(err)
				}
				if err := env.Server.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				hc := client(env.Credential(t, beta.ID, "busy", nil))
				var last *http.Response
				for range 5 {
					if last, _ = call(t, hc, "/orders/1", nil); last.StatusCode != 200 {
						break
					}
				}
				if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
					t.Errorf("status %d, Retry-After %q; want 429 with Retry-After", last.StatusCode, last.Header.Get("Retry-After"))
				}
			})
			t.Run("revoked", func(t *testing.T) {
				hc := client(shipper)
				if resp, _ := call(t, hc, "/shipments/2", nil); resp.StatusCode != 200 {
					t.Fatalf("before revocation: %d", resp.StatusCode)
				}
				if _, err := env.Server.Credentials.Revoke(ctx, access.CLI, shipper.Credential.ClientID); err != nil {
					t.Fatal(err)
				}
				if resp, _ := call(t, hc, "/shipments/2", nil); resp.StatusCode != 401 {
					t.Errorf("after revocation: %d, want 401", resp.StatusCode)
				}
			})
			t.Run("revoked with the CLI", func(t *testing.T) {
				// Another process (sapient credentials revoke) writes the
				// revocation; the instance applies it at its next sync step
				// (every 250 ms, taken here at once).
				c := env.Credential(t, acme.ID, "revoked-elsewhere", []string{"shipments:read"})
				hc := client(c)
				if resp, _ := call(t, hc, "/shipments/3", nil); resp.StatusCode != 200 {
					t.Fatalf("before revocation: %d", resp.StatusCode)
				}
				cli := &credential.Service{Store: storetest.Open(t, env.DatabaseURL), Now: time.Now, Rand: rand.Reader}
				if _, err := cli.Revoke(ctx, access.CLI, c.Credential.ClientID); err != nil {
					t.Fatal(err)
				}
				if err := env.Server.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				if resp, _ := call(t, hc, "/shipments/3", nil); resp.StatusCode != 401 {
					t.Errorf("after revocation with the CLI: %d, want 401", resp.StatusCode)
				}
			})
			t.Run("counted", func(t *testing.T) {
				if err := env.Server.Usage.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				buckets, err := env.Store.ListUsage(ctx, store.UsageFilter{ClientID: shipper.Credential.ClientID})
				if err != nil {
					t.Fatal(err)
				}
				var calls, refused int64
				for _, b := range buckets {
					calls, refused = calls+b.APICalls, refused+b.APIRefused
				}
				if calls != 2 || refused != 1 {
					t.Errorf("usage of the shipper: %d calls, %d refused; want 2 and 1", calls, refused)
				}
				// Per route, as the organisation reads it over the API.
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+"/api/v1/usage?by=route", nil)
				resp, err := client(reader).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var got struct {
					Data []usage.RouteRow `json:"data"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
					t.Fatalf("usage by route: %d %v", resp.StatusCode, err)
				}
				type key struct{ client, route string }
				sum := map[key]usage.RouteRow{}
				for _, r := range got.Data {
					if r.OrganizationID != acme.ID {
						t.Errorf("a row of another organisation: %+v", r)
					}
					k := key{r.ClientID, r.Route}
					s := sum[k]
					s.Accepted += r.Accepted
					if s.Refused == nil {
						s.Refused = map[string]int64{}
					}
					for reason, n := range r.Refused {
						s.Refused[reason] += n
					}
					sum[k] = s
				}
				ship := sum[key{shipper.Credential.ClientID, "shipments"}]
				if ship.Accepted != 2 || ship.Refused[usage.Revoked] != 1 {
					t.Errorf("shipper on shipments: %+v; want 2 accepted, 1 refused as revoked", ship)
				}
				read := sum[key{reader.Credential.ClientID, "shipments"}]
				if read.Accepted != 0 || read.Refused[usage.InsufficientScope] != 1 {
					t.Errorf("reader on shipments: %+v; want 1 refused for its scope", read)
				}
				if orders := sum[key{reader.Credential.ClientID, "orders"}]; orders.Accepted != 1 {
					t.Errorf("reader on orders: %+v; want 1 accepted", orders)
				}
				if _, ok := sum[key{"", "orders"}]; ok {
					t.Error("a customer sees the calls no credential was identified for")
				}
			})
		})
	}
}

// need finds a proxy's binary, or skips (fails under requireProxiesEnv).
func need(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if p := filepath.Join(dir, name); fileExists(p) {
				return p
			}
		}
		if os.Getenv(requireProxiesEnv) == "1" {
			t.Fatalf("%s is not installed but %s=1", name, requireProxiesEnv)
		}
		t.Skipf("%s is not installed: proxy tests skipped", name)
	}
	return path
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// example copies docs/examples/name into dir with the example's addresses
// replaced.
func example(t *testing.T, dir, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, []byte(strings.NewReplacer(replace...).Replace(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// run starts cmd, stops it when the test ends, and waits until addr
// accepts connections.
func run(t *testing.T, cmd *exec.Cmd, addr string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so that stopping it stops its workers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("%s said:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", filepath.Base(cmd.Path), out.String())
		case <-ctx.Done():
			t.Fatalf("%s did not listen on %s: %s", filepath.Base(cmd.Path), addr, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func startNginx(t *testing.T, sapient, upstream string) string {
	bin := need(t, "nginx")
	dir, addr := t.TempDir(), freeAddr(t)
	r := []string{exampleSapient, sapient, exampleAPI, upstream, exampleNginx, addr}
	conf := example(t, dir, "nginx.conf", r...)
	example(t, dir, "sapient-identity.conf", r...)
	example(t, dir, "sapient-check.conf", r...)
	run(t, exec.Command(bin, "-p", dir, "-c", conf, "-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+"; error_log stderr;"), addr)
	return "http://" + addr
}

func startCaddy(t *testing.T, sapient, upstream string) string {
	bin := need(t, "caddy")
	dir, addr := t.TempDir(), freeAddr(t)
	conf := example(t, dir, "Caddyfile", exampleSapient, sapient, exampleAPI, upstream, exampleCaddy, addr)
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	run(t, cmd, addr)
	return "http://" + addr
}
