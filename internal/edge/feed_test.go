package edge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/edge"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// feed asks srv's feed with a bearer token.
func feed(t *testing.T, env *servertest.Env, bearer, query string) (int, edge.Page, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/edge/revocations"+query, nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	env.Server.Handler().ServeHTTP(w, r)
	var p edge.Page
	if w.Code == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("feed: %v: %s", err, w.Body)
		}
	}
	return w.Code, p, w.Body.String()
}

// TestRevocationFeed: a verifier holding sapient:verify follows the feed
// from a cursor and learns of revoked credentials and tokens, scopes
// withdrawn and keys retired, on another instance than the one that made
// the change; the feed refuses other callers and cursors it did not give.
func TestRevocationFeed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		a := servertest.New(t, b)
		z := a.Join(t, servertest.WithSyncInterval(time.Hour)) // steps only when told
		acme := a.Org(t, "Acme")
		verifier := a.Credential(t, acme.ID, "verifier", []string{scope.Verify})
		plain := a.Credential(t, acme.ID, "plain", nil)
		vt, pt := z.Token(t, verifier), z.Token(t, plain)

		if code, _, _ := feed(t, z, "", ""); code != 401 {
			t.Errorf("without a token: %d, want 401", code)
		}
		if code, _, body := feed(t, z, pt, ""); code != 403 || !strings.Contains(body, "insufficient_scope") {
			t.Errorf("without sapient:verify: %d %s, want 403 insufficient_scope", code, body)
		}
		for _, q := range []string{"?after=abc", "?after=-1", "?after=99999999", "?after=" + strings.Repeat("9", 30)} {
			if code, _, body := feed(t, z, vt, q); code != 400 || !strings.Contains(body, "cursor") {
				t.Errorf("%s: %d %s, want 400 about the cursor", q, code, body)
			}
		}
		code, start, _ := feed(t, z, vt, "")
		if code != 200 || start.Cursor == "" || start.Cursor == "0" {
			t.Fatalf("from the start: %d %+v", code, start)
		}

		victim := a.Credential(t, acme.ID, "victim", nil)
		tok := a.Token(t, plain)
		if _, err := a.Server.Credentials.Revoke(t.Context(), access.CLI, victim.Credential.ClientID); err != nil {
			t.Fatal(err)
		}
		form := strings.NewReader("token=" + tok)
		r := httptest.NewRequest(http.MethodPost, "/connect/revocation", form)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(plain.Credential.ClientID, plain.Secret)
		w := httptest.NewRecorder()
		a.Server.Handler().ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("revoking a token: %d", w.Code)
		}
		if _, err := org.Withdraw(t.Context(), a.Store, access.CLI, acme.ID, []string{scope.AuditRead}, time.Now); err != nil {
			t.Fatal(err)
		}
		kid := a.Server.Keys.SigningKeyID()
		if _, err := a.Server.Keys.Retire(t.Context(), kid); err != nil {
			t.Fatal(err)
		}

		code, page, _ := feed(t, z, a.Token(t, verifier), "?after="+start.Cursor)
		if code != 200 {
			t.Fatalf("after %s: %d", start.Cursor, code)
		}
		var sawCred, sawToken, sawOrg, sawKey bool
		for _, e := range page.Entries {
			switch {
			case e.Type == "credential" && e.ClientID == victim.Credential.ClientID && e.Revoked:
				sawCred = true
			case e.Type == "token" && e.ClientID == plain.Credential.ClientID && e.JTI != "" && e.ExpiresAt != nil:
				sawToken = true
			case e.Type == "organization" && e.OrgID == acme.ID && !contains(e.Scopes, scope.AuditRead) && contains(e.Scopes, scope.UsageRead):
				sawOrg = true
			case e.Type == "key" && e.KID == kid:
				sawKey = true
			}
		}
		if !sawCred || !sawToken || !sawOrg || !sawKey {
			t.Errorf("entries %+v: credential %v, token %v, organisation %v, key %v; want all", page.Entries, sawCred, sawToken, sawOrg, sawKey)
		}
		// A reconnecting event-stream client names its cursor in
		// Last-Event-ID: the same entries.
		r = httptest.NewRequest(http.MethodGet, "/edge/revocations", nil)
		r.Header.Set("Authorization", "Bearer "+a.Token(t, verifier))
		r.Header.Set("Last-Event-ID", start.Cursor)
		w = httptest.NewRecorder()
		z.Server.Handler().ServeHTTP(w, r)
		var resumed edge.Page
		if err := json.Unmarshal(w.Body.Bytes(), &resumed); err != nil || resumed.Cursor != page.Cursor || len(resumed.Entries) != len(page.Entries) {
			t.Errorf("from Last-Event-ID %s: %d %s, want the %d entries up to %s", start.Cursor, w.Code, w.Body, len(page.Entries), page.Cursor)
		}
	})
}

// TestRevocationFeedWaits: an event stream held open on an instance
// delivers a revocation made on another instance, at the latest once that
// instance's sync step has applied it, and a long poll from the cursor
// before it answers with it.
func TestRevocationFeedWaits(t *testing.T) {
	a := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	z := a.Join(t, servertest.WithSyncInterval(time.Hour)) // steps only when told
	acme := a.Org(t, "Acme")
	verifier := a.Credential(t, acme.ID, "verifier", []string{scope.Verify})
	victim := a.Credential(t, acme.ID, "victim", nil)
	vt := z.Token(t, verifier)
	_, start, _ := feed(t, z, vt, "")

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	get := func(accept string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, z.URL+"/edge/revocations?after="+start.Cursor, nil)
		req.Header.Set("Authorization", "Bearer "+vt)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	stream := get("text/event-stream")
	if stream.StatusCode != 200 || stream.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("event stream: %+v", stream)
	}
	defer stream.Body.Close()
	events := make(chan string, 16)
	go func() {
		lines := bufio.NewScanner(stream.Body)
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, "data: ") {
				events <- l
			}
		}
		close(events)
	}()

	if _, err := a.Server.Credentials.Revoke(t.Context(), access.CLI, victim.Credential.ClientID); err != nil {
		t.Fatal(err)
	}
	// The stream reads the shared log: it may see the revocation at once,
	// and must once this instance's sync step has applied it (which wakes
	// a stream that had read everything before).
	if err := z.Server.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for e := range events {
		if strings.Contains(e, victim.Credential.ClientID) && strings.Contains(e, `"revoked":true`) {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the event stream did not deliver the revocation")
	}
	resp := get("")
	defer resp.Body.Close()
	var p edge.Page
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || len(p.Entries) == 0 {
		t.Fatalf("long poll: %+v, %v", p, err)
	}
	if last := p.Entries[len(p.Entries)-1]; last.ClientID != victim.Credential.ClientID || !last.Revoked {
		t.Errorf("long poll answered %+v, want the revocation last", p)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRevocationFeedDrains: a shutdown ends a long poll at once, with what
// it has, rather than after its wait.
func TestRevocationFeedDrains(t *testing.T) {
	env := servertest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	verifier := env.Credential(t, env.Org(t, "Acme").ID, "verifier", []string{scope.Verify})
	vt := env.Token(t, verifier)
	_, start, _ := feed(t, env, vt, "")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // well under the 25 s wait
	defer cancel()
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+"/edge/revocations?after="+start.Cursor, nil)
		req.Header.Set("Authorization", "Bearer "+vt)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case code := <-answered:
		t.Fatalf("the long poll answered %d before anything changed", code)
	case <-time.After(50 * time.Millisecond):
	}
	env.Server.Drain()
	if code := <-answered; code != 200 {
		t.Errorf("the long poll ended with %d, want 200 and what it had", code)
	}
}
