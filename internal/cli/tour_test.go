package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/cli"
	"sapient.dev/sapient/internal/server/servertest"
)

// TestReadmeTour follows the README as a new user would: serve on an empty
// database, read the generated Admin login, create an organisation and a
// credential with the CLI, get a token, call /api/v1/me, revoke with the
// CLI, see the token refused, and stop the server gracefully.
func TestReadmeTour(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sapient.db")
	srv := startServe(t, map[string]string{"SAPIENT_DATABASE_URL": db})
	base, env, out, logs := srv.base, srv.env, &srv.out, &srv.logs

	banner := out.String()
	password := regexp.MustCompile(`Password: (\S+)`).FindStringSubmatch(banner)
	if !strings.Contains(banner, "Email:    admin@localhost") || password == nil || len(password[1]) < 20 {
		t.Fatalf("first start did not print the Admin login clearly:\n%s", banner)
	}
	if strings.Contains(logs.String(), password[1]) {
		t.Error("the generated Admin password is in the logs")
	}
	if strings.Contains(logs.String(), "weaker than OWASP") {
		t.Error("serve warns of weak password hashes at the default parameters")
	}
	if info, err := os.Stat(db + ".key"); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file beside the database: %v, mode %v; want 0600", err, info.Mode().Perm())
	}

	run := func(stdin string, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := cli.Main(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr, env); code != 0 {
			t.Fatalf("sapient %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
		return stdout.String()
	}
	run("", "orgs", "create", "Acme")
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(run("", "credentials", "create", "--org", "Acme", "--name", "billing", "--json")), &cred); err != nil {
		t.Fatal(err)
	}

	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cred.ClientID, cred.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
		t.Fatalf("token: %d %+v", resp.StatusCode, tok)
	}

	me := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := me(); code != 200 || !strings.Contains(body, `"name":"billing"`) || !strings.Contains(body, `"name":"Acme"`) {
		t.Fatalf("/api/v1/me: %d %s", code, body)
	}

	run("", "credentials", "revoke", cred.ClientID)
	waitFor(t, func() bool { code, _ := me(); return code == 401 })

	if code := srv.stop(); code != 0 {
		t.Errorf("serve exited %d after shutdown: %s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "sapient stopped") {
		t.Errorf("no shutdown log line: %s", logs.String())
	}
	if strings.Contains(logs.String(), cred.ClientSecret) || strings.Contains(logs.String(), tok.AccessToken) {
		t.Error("a secret or token reached the logs")
	}
}

// served is a `sapient serve` running in the test, as cli.Main.
type served struct {
	base      string              // http://host:port
	env       func(string) string // its environment, for CLI commands against its database
	out, logs servertest.Buffer
	stop      func() int // ends it as SIGTERM would, and returns its exit code
}

// startServe runs `sapient serve` with the environment vars, on a free
// loopback port, logging JSON, and returns once /readyz answers 200.
func startServe(t *testing.T, vars map[string]string) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars["SAPIENT_ADDR"], vars["SAPIENT_LOG_FORMAT"] = addr, "json"
	s := &served{base: "http://" + addr, env: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	code := make(chan int, 1)
	go func() { code <- cli.Main(ctx, []string{"serve"}, strings.NewReader(""), &s.out, &s.logs, s.env) }()
	s.stop = func() int {
		cancel()
		select {
		case c := <-code:
			return c
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
	waitFor(t, func() bool {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return s
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
