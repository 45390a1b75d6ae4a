package leak_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/leak"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// scanner plays GitHub's secret scanning: its own ECDSA P-256 keys,
// published on 127.0.0.1 in GitHub's format, signing its alerts.
type scanner struct {
	keys    map[string]*ecdsa.PrivateKey
	URL     string
	fetches atomic.Int32
}

func newScanner(t *testing.T, ids ...string) *scanner {
	t.Helper()
	s := &scanner{keys: map[string]*ecdsa.PrivateKey{}}
	type pub struct {
		ID      string `json:"key_identifier"`
		Key     string `json:"key"`
		Current bool   `json:"is_current"`
	}
	var doc struct {
		PublicKeys []pub `json:"public_keys"`
	}
	for i, id := range ids {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		s.keys[id] = k
		doc.PublicKeys = append(doc.PublicKeys, pub{id, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), i == 0})
	}
	body, _ := json.Marshal(doc)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// sign returns the headers GitHub sends with body, signed by key id.
func (s *scanner) sign(t *testing.T, id string, body []byte) http.Header {
	t.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.keys[id], digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{leak.HeaderKeyID: {id}, leak.HeaderSignature: {base64.StdEncoding.EncodeToString(sig)}}
}

func alert(url string, tokens ...string) []byte {
	var as []leak.Alert
	for _, tok := range tokens {
		as = append(as, leak.Alert{Token: tok, Type: "sapient_secret", URL: url, Source: "content"})
	}
	b, _ := json.Marshal(as)
	return b
}

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func labels(t *testing.T, w *httptest.ResponseRecorder) []leak.Label {
	t.Helper()
	var out []leak.Label
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &out) != nil {
		t.Fatalf("answer = %d %s, want 200 and labels", w.Code, w.Body)
	}
	return out
}

func withKeys(url string) servertest.Option {
	return func(c *server.Config) { c.GitHubKeysURL = url }
}

// TestGitHubAlert: a signed alert stops every working secret it holds
// and answers GitHub's labels, true_positive for a secret of a
// credential, false_positive for anything else, with the token's SHA-256
// and never the token; the audit trail names GitHub and the alert's URL.
// The same signed body again is answered the same and changes nothing
// more.
func TestGitHubAlert(t *testing.T) {
	sc := newScanner(t, "k1", "k2")
	clock := servertest.NewClock()
	env := servertest.New(t, storetest.Backends()[0], servertest.WithClock(clock), withKeys(sc.URL))
	acme := env.Org(t, "Acme")
	leaked := env.Credential(t, acme.ID, "billing", nil)
	kept := env.Credential(t, acme.ID, "reports", nil)
	unknown, _ := credential.NewSecret(rand.Reader)

	body := alert("https://github.com/acme/app/blob/abc/.env", leaked.Secret, "sapsk_lookalike", unknown)
	w := post(env, "/leaks/github", "140.82.115.1", body, sc.sign(t, "k2", body)) // a key not current is still GitHub's
	got := labels(t, w)
	want := []leak.Label{
		{TokenHash: hashOf(leaked.Secret), TokenType: "sapient_secret", Label: "true_positive"},
		{TokenHash: hashOf("sapsk_lookalike"), TokenType: "sapient_secret", Label: "false_positive"},
		{TokenHash: hashOf(unknown), TokenType: "sapient_secret", Label: "false_positive"},
	}
	if len(got) != len(want) {
		t.Fatalf("labels = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("label %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if strings.Contains(w.Body.String(), leaked.Secret) {
		t.Error("the answer holds the secret")
	}
	if code := tokenStatus(env, leaked); code != http.StatusUnauthorized {
		t.Errorf("the leaked secret still gets tokens: %d", code)
	}
	if code := tokenStatus(env, kept); code != http.StatusOK {
		t.Errorf("a secret not in the alert: %d, want 200", code)
	}
	evs := leakEvents(t, env)
	if len(evs) != 1 || evs[0].ActorLabel != "GitHub secret scanning" || !strings.Contains(evs[0].Detail, "github") ||
		!strings.Contains(evs[0].Detail, "https://github.com/acme/app/blob/abc/.env") {
		t.Fatalf("credential.leaked events = %+v", evs)
	}

	// A replay, to an organisation whose leaks roll the secret: the
	// replayed secret no longer matches anything, yet the answer is the
	// first one, and nothing changes.
	beta := env.Org(t, "Beta")
	if err := org.SetLeakAction(t.Context(), env.Store, access.CLI, beta.ID, store.LeakRoll, clock.Now); err != nil {
		t.Fatal(err)
	}
	rolled := env.Credential(t, beta.ID, "billing", nil)
	body = alert("https://github.com/beta/app", rolled.Secret)
	h := sc.sign(t, "k1", body)
	first := post(env, "/leaks/github", "140.82.115.1", body, h)
	if l := labels(t, first); len(l) != 1 || l[0].Label != "true_positive" {
		t.Fatalf("labels = %+v", l)
	}
	c, _ := env.Store.GetCredential(t.Context(), rolled.Credential.ClientID)
	if c.SecretHash == rolled.Credential.SecretHash || !c.RevokedAt.IsZero() {
		t.Fatalf("with the roll action: %+v", c)
	}
	clock.Add(time.Minute)
	replay := post(env, "/leaks/github", "140.82.115.1", body, h)
	if replay.Code != http.StatusOK || replay.Body.String() != first.Body.String() {
		t.Errorf("replay answered %d %s, want the first answer %s", replay.Code, replay.Body, first.Body)
	}
	if after, _ := env.Store.GetCredential(t.Context(), c.ClientID); after.Version != c.Version {
		t.Error("a replay changed the credential")
	}
	if n := len(leakEvents(t, env)); n != 2 {
		t.Errorf("%d credential.leaked events, want 2", n)
	}
	if n := sc.fetches.Load(); n != 1 {
		t.Errorf("keys fetched %d times, want once", n)
	}
}

// TestGitHubAlertRefused: a missing, malformed or wrong signature, a key
// GitHub does not publish, 5 MB of JSON or a signed body that is not an
// alert: a clear JSON problem, nothing changes. An unknown key fetches the
// keys again, at most once a minute.
func TestGitHubAlertRefused(t *testing.T) {
	sc := newScanner(t, "k1")
	other := newScanner(t, "k1") // the same key ID, another key
	clock := servertest.NewClock()
	env := servertest.New(t, storetest.Backends()[0], servertest.WithClock(clock), withKeys(sc.URL))
	c := env.Credential(t, env.Org(t, "Acme").ID, "billing", nil)
	body := alert("https://github.com/acme/app", c.Secret)
	good := sc.sign(t, "k1", body)
	big := []byte(`[{"token": "` + strings.Repeat("a", 5<<20) + `", "type": "x", "url": "y", "source": "content"}]`)
	notAlert := []byte(`{"token": "` + c.Secret + `"}`)
	for _, tc := range []struct {
		name   string
		body   []byte
		header http.Header
		status int
	}{
		{"no headers", body, nil, 400},
		{"no signature", body, http.Header{leak.HeaderKeyID: {"k1"}}, 400},
		{"no key ID", body, http.Header{leak.HeaderSignature: good[leak.HeaderSignature]}, 400},
		{"signature not base64", body, http.Header{leak.HeaderKeyID: {"k1"}, leak.HeaderSignature: {"%%%"}}, 400},
		{"signature of garbage", body, http.Header{leak.HeaderKeyID: {"k1"}, leak.HeaderSignature: {"AAAA"}}, 401},
		{"signed by another key", body, other.sign(t, "k1", body), 401},
		{"signature of another body", alert("https://github.com/acme/app", c.Secret+" "), good, 401},
		{"unknown key", body, http.Header{leak.HeaderKeyID: {"k9"}, leak.HeaderSignature: good[leak.HeaderSignature]}, 401},
		{"5 MB", big, sc.sign(t, "k1", big), 413},
		{"not an alert", notAlert, sc.sign(t, "k1", notAlert), 400},
		{"garbage", []byte("sapsk_"), sc.sign(t, "k1", []byte("sapsk_")), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, post(env, "/leaks/github", "140.82.115.1", tc.body, tc.header), tc.status)
		})
	}
	if code := tokenStatus(env, c); code != http.StatusOK {
		t.Errorf("after refused alerts the credential answers %d, want 200", code)
	}
	if n := len(leakEvents(t, env)); n != 0 {
		t.Errorf("%d credential.leaked events, want none", n)
	}
	// The keys were fetched once, for the first alert: the unknown key
	// came within the minute.
	if n := sc.fetches.Load(); n != 1 {
		t.Errorf("keys fetched %d times, want 1", n)
	}
	unknown := http.Header{leak.HeaderKeyID: {"k9"}, leak.HeaderSignature: good[leak.HeaderSignature]}
	clock.Add(leak.KeyRefetch)
	wantProblem(t, post(env, "/leaks/github", "140.82.115.1", body, unknown), 401)
	wantProblem(t, post(env, "/leaks/github", "140.82.115.1", body, unknown), 401)
	if n := sc.fetches.Load(); n != 2 {
		t.Errorf("keys fetched %d times after a minute and two unknown keys, want 2", n)
	}
	labels(t, post(env, "/leaks/github", "140.82.115.1", body, good))
	if code := tokenStatus(env, c); code != http.StatusUnauthorized {
		t.Errorf("after the signed alert the credential answers %d, want 401", code)
	}
}

// TestGitHubKeysUnavailable: keys that cannot be fetched answer 503, so
// that GitHub sends the alert again.
func TestGitHubKeysUnavailable(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadGateway)
	}))
	t.Cleanup(down.Close)
	sc := newScanner(t, "k1")
	env := servertest.New(t, storetest.Backends()[0], withKeys(down.URL))
	body := alert("u", "sapsk_x")
	wantProblem(t, post(env, "/leaks/github", "140.82.115.1", body, sc.sign(t, "k1", body)), http.StatusServiceUnavailable)
}
