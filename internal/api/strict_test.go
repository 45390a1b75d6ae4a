package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store"
)

// TestStrictBody holds issue 19's bodies: the API refuses what the
// console refuses (invalid UTF-8, unpaired surrogates) and what JSON
// parsers read differently (duplicate members, members named in another
// case), and every refusal names the field and says what is expected.
// Nothing is stored.
func TestStrictBody(t *testing.T) {
	forEachCaller(t, nil, func(t *testing.T, env *servertest.Env, acme store.Org, c *caller, clk *servertest.Clock) {
		cr := c.create(t, map[string]any{"name": "billing"})
		tests := []struct {
			name   string
			body   string
			status int
			field  string
			detail string // in the problem's detail
		}{
			{"invalid UTF-8", "{\"name\":\"bad\xff\xfename\"}", 400, "name", "not valid UTF-8"},
			{"lone surrogate", `{"name":"bad\ud800name"}`, 400, "name", `unpaired UTF-16 surrogate`},
			{"duplicate member", `{"name":"a","name":"b"}`, 400, "name", `"name" appears more than once`},
			{"member in capitals", `{"NAME":"x"}`, 400, "NAME", `case-sensitive; use "name"`},
			{"member in mixed case", `{"Name":"x"}`, 400, "Name", `use "name"`},
			{"date without time", `{"name":"x","expires_at":"2027-06-30"}`, 400, "expires_at", `"expires_at" must be a date and time in RFC 3339 format`},
			{"date as number", `{"name":"x","expires_at":1}`, 400, "expires_at", `"expires_at" must be a date and time in RFC 3339 format`},
			{"array of objects", `[{}]`, 400, "", "The body must be a JSON object."},
			{"name a number", `{"name":5}`, 400, "name", `"name" must be a string`},
			{"scopes a string", `{"name":"x","scopes":"a b"}`, 400, "scopes", `"scopes" must be an array of strings`},
			{"address a number", `{"name":"x","allowed_cidrs":[1]}`, 400, "allowed_cidrs[0]", `must be a string`},
			{"unknown member", `{"name":"x","admin":true}`, 400, "admin", `Unknown field "admin".`},
			{"two objects", `{"name":"x"}{"name":"y"}`, 400, "", "one JSON object"},
			{"replacement character", `{"name":"bad\ufffdname"}`, 422, "name", "U+FFFD"},
			{"invisible character", `{"name":"billing\u200b"}`, 422, "name", "invisible character U+200B"},
			{"bidirectional override", `{"name":"abc\u202egnp.exe"}`, 422, "name", "U+202E"},
			{"look-alike", `{"name":"ｂｉｌｌｉｎｇ"}`, 422, "name", ""},
			{"look-alike in capitals", `{"name":"BILLING"}`, 422, "name", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := c.listIDs(t, "")
				p := c.call(t, http.MethodPost, "/api/v1/credentials", tt.body).problem(t, tt.status, tt.field)
				if !strings.Contains(p.Detail, tt.detail) {
					t.Errorf("detail %q does not say %q", p.Detail, tt.detail)
				}
				if tt.field == "" && len(p.Errors) != 0 {
					t.Errorf("errors %+v name a field; want none", p.Errors)
				}
				if after := c.listIDs(t, ""); !slices.Equal(before, after) {
					t.Fatalf("list changed from %v to %v", before, after)
				}
			})
		}
		// The same bodies do not rename a credential either.
		for _, body := range []string{`{"name":"a","name":"b"}`, `{"NAME":"x"}`, "{\"name\":\"bad\xffname\"}", `{"name":"x\ud800"}`} {
			c.call(t, http.MethodPatch, "/api/v1/credentials/"+cr.ClientID, body).problem(t, 400, "")
			if got := c.get(t, cr.ClientID); got.Name != "billing" {
				t.Fatalf("PATCH %s renamed the credential to %q", body, got.Name)
			}
		}
		// A name in NFD is stored in NFC.
		if got := c.create(t, map[string]any{"name": "cafe\u0301"}); got.Name != "café" {
			t.Errorf("created %+q, want the NFC name", got.Name)
		}
	})
}
