package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/webhook"
	"sapient.dev/sapient/internal/webhook/webhooktest"
)

// TestCLIWebhooks: sapient webhooks create prints the signing secret
// once; a credential the CLI creates, with no server in the process,
// reaches the endpoint through the instance running on the database,
// signed with that secret; bad input is one line and exit 1; list never
// shows the secret; delete removes the endpoint.
func TestCLIWebhooks(t *testing.T) {
	b := storetest.Backends()[0]
	s := newSapient(t, b)
	s.ok(t, "", "orgs", "create", "Acme")

	type hit struct {
		header http.Header
		body   []byte
	}
	hits := make(chan hit, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hits <- hit{r.Header.Clone(), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)

	for _, bad := range []struct{ args []string }{
		{[]string{"webhooks", "create", "--org", "Acme", "--url", "https://example.com/h", "--events", "credential.exploded"}},
		{[]string{"webhooks", "create", "--org", "Acme", "--url", "http://example.com/h", "--events", "credential.created"}},
		{[]string{"webhooks", "create", "--org", "Acme", "--url", rcv.URL, "--events", "credential.created"}},
		{[]string{"webhooks", "create", "--org", "Acme", "--url", "https://example.com/h", "--events", "key.rotated"}},
		{[]string{"webhooks", "create", "--org", "Nobody", "--url", "https://example.com/h", "--events", "credential.created"}},
		{[]string{"webhooks", "delete", "whe_nope"}},
	} {
		s.fails(t, "", bad.args...)
	}

	var created struct {
		ID            string   `json:"id"`
		Events        []string `json:"events"`
		SigningSecret string   `json:"signing_secret"`
	}
	out := s.ok(t, "", "webhooks", "create", "--org", "Acme", "--url", rcv.URL+"/in", "--events", "credential.created credential.revoked",
		"--allow-private", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.SigningSecret, webhook.SecretPrefix) ||
		len(created.Events) != 2 {
		t.Fatalf("webhooks create printed %s (%v)", out, err)
	}
	if list := s.ok(t, "", "webhooks", "list", "--json"); strings.Contains(list, created.SigningSecret) || !strings.Contains(list, created.ID) {
		t.Errorf("webhooks list = %s", list)
	}

	// The instance runs with the CLI's key-encryption key, as a real
	// deployment shares it.
	kek, err := keys.NewKEK(s.env["SAPIENT_SECRET_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	servertest.Start(t, s.env["SAPIENT_DATABASE_URL"], webhooktest.FastRetries, func(c *server.Config) { c.KEK = kek })

	var cred lcCred
	json.Unmarshal([]byte(s.ok(t, "", "credentials", "create", "--org", "Acme", "--name", "from the cli", "--json")), &cred)
	select {
	case h := <-hits:
		ts, _ := time.Parse(time.RFC3339, "1970-01-01T00:00:00Z")
		if n, err := json.Number(h.header.Get("webhook-timestamp")).Int64(); err == nil {
			ts = time.Unix(n, 0)
		}
		want, _ := webhook.Sign(created.SigningSecret, h.header.Get("webhook-id"), ts, h.body)
		if h.header.Get("webhook-signature") != want || !strings.Contains(string(h.body), `"type":"credential.created"`) ||
			!strings.Contains(string(h.body), cred.ClientID) || strings.Contains(string(h.body), cred.ClientSecret) {
			t.Errorf("delivery: headers %v, body %s", h.header, h.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery of the credential the CLI created")
	}

	s.ok(t, "", "webhooks", "delete", created.ID)
	if list := s.ok(t, "", "webhooks", "list", "--json"); strings.TrimSpace(list) != "[]" {
		t.Errorf("after delete, list = %s", list)
	}
}
