package oauth

import (
	"net/http/httptest"
	"testing"
)

// TestWriteTokenResponseMatchesEncodingJSON holds the hand-built token
// response to the bytes and headers writeJSON gives.
func TestWriteTokenResponseMatchesEncodingJSON(t *testing.T) {
	tests := []tokenResponse{
		{AccessToken: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", TokenType: "Bearer", ExpiresIn: 3600, Scope: "a:read b:write"},
		{AccessToken: "t", TokenType: "Bearer", ExpiresIn: 0},
		{AccessToken: `odd "<&>" \ ☃`, TokenType: "Bearer", ExpiresIn: -1, Scope: "\x01"},
	}
	for _, tr := range tests {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, 200, tr)
		writeTokenResponse(got, &tr)
		if got.Body.String() != want.Body.String() {
			t.Errorf("body\n got %q\nwant %q", got.Body, want.Body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "Pragma"} {
			if got.Header().Get(h) != want.Header().Get(h) {
				t.Errorf("%s = %q, want %q", h, got.Header().Get(h), want.Header().Get(h))
			}
		}
	}
}
