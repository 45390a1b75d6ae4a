package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestMetricsMethodLabels: the latency metric's method label takes the
// standard methods by name and any other as "other", so that clients
// inventing methods at routes that answer every method (/connect/token,
// /api/) cannot create series without bound.
func TestMetricsMethodLabels(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	send := func(method, path string) {
		t.Helper()
		req, err := http.NewRequest(method, env.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	invented := []string{"FROB", "BREW", "get", "X-" + strings.Repeat("A", 40)}
	for _, m := range invented {
		for _, path := range []string{"/connect/token", "/api/v1/anything", "/api/v1/me", "/nowhere"} {
			send(m, path)
		}
	}
	send(http.MethodGet, "/connect/token")
	send(http.MethodPatch, "/api/v1/anything")

	resp, err := http.Get(env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(b)
	for _, m := range invented {
		if strings.Contains(metrics, `method="`+m+`"`) {
			t.Errorf("the invented method %q has a series of its own", m)
		}
	}
	for _, want := range []string{
		`sapient_http_request_duration_seconds_count{method="other",route="/connect/token"} 4`,
		`sapient_http_request_duration_seconds_count{method="other",route="/api/"} 8`, // /api/v1/me serves GET only: the rest fall to /api/
		`sapient_http_request_duration_seconds_count{method="other",route="unmatched"} 4`,
		`sapient_http_request_duration_seconds_count{method="GET",route="/connect/token"} 1`,
		`sapient_http_request_duration_seconds_count{method="PATCH",route="/api/"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
