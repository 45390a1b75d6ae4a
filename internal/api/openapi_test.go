package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/api"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/webhook"
)

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]any `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	Security  []map[string][]string `json:"security"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema any `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

func loadDoc(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	return doc
}

func (d openAPIDoc) op(t *testing.T, method, path string) (operation, bool) {
	t.Helper()
	raw, ok := d.Paths[path][strings.ToLower(method)]
	if !ok {
		return operation{}, false
	}
	var op operation
	if err := json.Unmarshal(raw, &op); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return op, true
}

// TestOpenAPIMatchesRoutes holds the document to the route table: every
// route is documented with its scope and session rule, and every documented
// operation exists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadDoc(t)
	routes := api.New(api.Config{}).Routes()
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		op, ok := doc.op(t, rt.Method, rt.Path)
		if !ok {
			t.Errorf("%s is served but not documented", key)
			continue
		}
		delete(documented, key)
		var bearerScopes []string
		session := false
		for _, req := range op.Security {
			if s, ok := req["bearer"]; ok {
				bearerScopes = s
			}
			if _, ok := req["session"]; ok {
				session = true
			}
		}
		want := []string{}
		if rt.Scope != "" {
			want = []string{rt.Scope}
		}
		if !slices.Equal(bearerScopes, want) && !(len(bearerScopes) == 0 && len(want) == 0) {
			t.Errorf("%s: documented bearer scopes %v, code requires %v", key, bearerScopes, want)
		}
		if session != rt.Session {
			t.Errorf("%s: documented session=%v, code session=%v", key, session, rt.Session)
		}
	}
	for key := range documented {
		t.Errorf("%s is documented but not served", key)
	}
}

// TestOpenAPIResponses calls every operation on a real server and checks
// that the status is documented and the body matches its schema.
func TestOpenAPIResponses(t *testing.T) {
	doc := loadDoc(t)
	env := servertest.New(t, storetest.Backends()[0])
	acme := env.Org(t, "Acme")
	caller := env.Credential(t, acme.ID, "caller", []string{scope.CredentialsRead, scope.CredentialsWrite, scope.UsageRead, scope.AuditRead,
		scope.WebhooksRead, scope.WebhooksWrite})
	target := env.Credential(t, acme.ID, "target", nil)
	tok := openapiToken(t, env, caller.Credential.ClientID, caller.Secret)
	openapiMe(t, env, tok) // some usage
	if err := env.Server.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	id := target.Credential.ClientID
	hook, err := env.Server.Webhooks.Create(t.Context(), access.CLI, webhook.CreateRequest{OrgID: acme.ID,
		URL: "https://hooks.example.com/sapient", Events: []string{webhook.CredentialRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	hid := hook.Endpoint.ID
	calls := []struct {
		method, path, concrete, body string
		status                       int
	}{
		{"GET", "/api/v1/me", "/api/v1/me", "", 200},
		{"GET", "/api/v1/credentials", "/api/v1/credentials", "", 200},
		{"POST", "/api/v1/credentials", "/api/v1/credentials", `{"name":"new one","scopes":["usage:read"],"allowed_cidrs":["127.0.0.0/8"]}`, 201},
		{"POST", "/api/v1/credentials", "/api/v1/credentials", `{"name":""}`, 422},
		{"GET", "/api/v1/credentials/{client_id}", "/api/v1/credentials/" + id, "", 200},
		{"GET", "/api/v1/credentials/{client_id}", "/api/v1/credentials/sapci_nope", "", 404},
		{"PATCH", "/api/v1/credentials/{client_id}", "/api/v1/credentials/" + id, `{"name":"renamed"}`, 200},
		{"POST", "/api/v1/credentials/{client_id}/roll", "/api/v1/credentials/" + id + "/roll", `{"previous_secret_expires_in":"1h"}`, 200},
		{"DELETE", "/api/v1/credentials/{client_id}", "/api/v1/credentials/" + id, "", 200},
		{"GET", "/api/v1/usage", "/api/v1/usage?granularity=day", "", 200},
		{"GET", "/api/v1/usage", "/api/v1/usage?granularity=week", "", 422},
		{"GET", "/api/v1/audit", "/api/v1/audit?limit=2", "", 200},
		{"GET", "/api/v1/webhooks", "/api/v1/webhooks", "", 200},
		{"POST", "/api/v1/webhooks", "/api/v1/webhooks", `{"url":"https://hooks.example.com/in","events":["credential.created"]}`, 201},
		{"POST", "/api/v1/webhooks", "/api/v1/webhooks", `{"url":"http://hooks.example.com/in","events":["credential.created"]}`, 422},
		{"POST", "/api/v1/webhooks", "/api/v1/webhooks", `{"url":"https://hooks.example.com/in","events":["credential.nope"]}`, 422},
		{"GET", "/api/v1/webhooks/{id}", "/api/v1/webhooks/" + hid, "", 200},
		{"GET", "/api/v1/webhooks/{id}", "/api/v1/webhooks/whe_nope", "", 404},
		{"PATCH", "/api/v1/webhooks/{id}", "/api/v1/webhooks/" + hid, `{"description":"ops"}`, 200},
		{"GET", "/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/" + hid + "/deliveries", "", 200},
		{"GET", "/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/" + hid + "/deliveries?limit=0", "", 400},
		{"POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/resend", "/api/v1/webhooks/" + hid + "/deliveries/msg_nope/resend", "", 404},
		{"DELETE", "/api/v1/webhooks/{id}", "/api/v1/webhooks/" + hid, "", 204},
	}
	for _, c := range calls {
		t.Run(fmt.Sprintf("%s %s %d", c.method, c.concrete, c.status), func(t *testing.T) {
			op, ok := doc.op(t, c.method, c.path)
			if !ok {
				t.Fatalf("%s %s not documented", c.method, c.path)
			}
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			req, _ := http.NewRequest(c.method, env.URL+c.concrete, body)
			req.Header.Set("Authorization", "Bearer "+tok)
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, raw)
			}
			documented, ok := op.Responses[fmt.Sprint(c.status)]
			if !ok {
				t.Fatalf("status %d is not documented", c.status)
			}
			if c.status == http.StatusNoContent {
				return
			}
			ct := resp.Header.Get("Content-Type")
			mt, _, _ := strings.Cut(ct, ";")
			media, ok := documented.Content[mt]
			if !ok {
				t.Fatalf("media type %q is not documented for %d", mt, c.status)
			}
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if err := validateSchema(doc, media.Schema, v, "$"); err != nil {
				t.Errorf("body does not match the schema: %v\n%s", err, raw)
			}
		})
	}
}

// validate checks v against the subset of JSON Schema the document uses.
func validateSchema(doc openAPIDoc, schema, v any, at string) error {
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		return validateSchema(doc, doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")], v, at)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if err := validateSchema(doc, sub, v, at); err != nil {
				return err
			}
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	switch s["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object", at)
		}
		for _, r := range schemaList(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required property %q missing", at, r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, pv := range obj {
			if ps, ok := props[k]; ok {
				if err := validateSchema(doc, ps, pv, at+"."+k); err != nil {
					return err
				}
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array", at)
		}
		for i, item := range arr {
			if err := validateSchema(doc, s["items"], item, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string", at)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, str)
			}
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: want an integer", at)
		}
	}
	return nil
}

func schemaList(v any) []any {
	l, _ := v.([]any)
	return l
}

func openapiToken(t *testing.T, env *servertest.Env, id, secret string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", env.URL+"/connect/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	return out.AccessToken
}

func openapiMe(t *testing.T, env *servertest.Env, tok string) {
	t.Helper()
	req, _ := http.NewRequest("GET", env.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
