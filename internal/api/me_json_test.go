package api

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestWriteMeMatchesEncodingJSON holds the hand-built /api/v1/me answer to
// the bytes and headers encoding/json gives.
func TestWriteMeMatchesEncodingJSON(t *testing.T) {
	at := time.Unix(1795632973, 0).UTC()
	tests := []meResponse{
		{ClientID: "sapci_abc", Name: "billing", Organization: organization{"org_1", "Acme"},
			Scopes: []string{"audit:read", "usage:read"}, ExpiresAt: at, IssuedAt: at.Add(-time.Hour)},
		{ClientID: "sapci_abc", Name: `quote " back \ slash <b>&`, Organization: organization{"org_1", "Ünïcode ☃ \u2028"},
			Scopes: []string{}, ExpiresAt: at.Add(123456789), IssuedAt: at},
		{ClientID: "x", Name: "tab\there\x00", Organization: organization{"", ""}, Scopes: []string{"a"},
			ExpiresAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)), IssuedAt: time.Time{}},
	}
	for _, m := range tests {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, 200, m)
		writeMe(got, &m)
		if got.Body.String() != want.Body.String() {
			t.Errorf("body\n got %q\nwant %q", got.Body, want.Body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control"} {
			if got.Header().Get(h) != want.Header().Get(h) {
				t.Errorf("%s = %q, want %q", h, got.Header().Get(h), want.Header().Get(h))
			}
		}
	}
}
