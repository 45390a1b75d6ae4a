package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// TestRun runs every scenario briefly and checks that each produced
// figures, without errors, and every ratio. It asserts nothing about
// speed. More than 1,000 credentials, so that token-1k runs too.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and drives load for a few seconds")
	}
	rep, err := Run(t.Context(), Config{Credentials: 1200, Concurrency: 4, Duration: 100 * time.Millisecond, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(Scenarios) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(Scenarios))
	}
	for i, res := range rep.Results {
		if res.Name != Scenarios[i] || res.Requests == 0 || res.RequestsPerSecond <= 0 || res.P99ms < res.P50ms {
			t.Errorf("result %+v", res)
		}
		if res.Errors != 0 {
			t.Errorf("%s: %d errors, first: %s", res.Name, res.Errors, res.FirstError)
		}
	}
	for _, r := range ratioTargets {
		for _, res := range rep.Results {
			if res.Name == r.scenario {
				if got, ok := res.Ratios[r.scenario+"/"+r.floor]; !ok || got.Value <= 0 || got.Target != r.target {
					t.Errorf("%s: ratio %+v", res.Name, res.Ratios)
				}
			}
		}
	}
	if rep.InMemory < rep.Ready {
		t.Errorf("measured after %v, before the credentials were in memory (%v)", rep.Ready, rep.InMemory)
	}

	// --json: an array of objects with the fields the issue names, and
	// the ratios of token, me and me-cold.
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil || len(out) != len(Scenarios) {
		t.Fatalf("--json output: %v, %d objects\n%s", err, len(out), buf.String())
	}
	for _, o := range out {
		if _, ok := o["name"].(string); !ok {
			t.Errorf("no name in %v", o)
		}
		for _, f := range []string{"requests_per_second", "p50_ms", "p99_ms", "errors", "allocs_per_request", "peak_rss_mb"} {
			if _, ok := o[f].(float64); !ok {
				t.Errorf("%v: field %s missing or not a number", o["name"], f)
			}
		}
		if name := o["name"]; name == Token || name == Me || name == MeCold {
			if r, ok := o["ratios"].(map[string]any); !ok || len(r) == 0 {
				t.Errorf("%v: no ratios in %v", name, o)
			}
		}
	}
}

// usageAfter runs cfg on an SQLite file of its own and returns the store,
// still open, with the usage buckets of the last hour.
func usageAfter(t *testing.T, cfg Config) (*store.SQL, []store.UsageBucket) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a server and drives load")
	}
	cfg.DatabaseURL = filepath.Join(t.TempDir(), "bench.db")
	if _, err := Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	buckets, err := st.ListUsage(t.Context(), store.UsageFilter{From: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return st, buckets
}

// TestUsedThisHour: with UsedThisHour every credential has its usage row
// of the hour, counting at least the token it was given, and a last use.
func TestUsedThisHour(t *testing.T) {
	const n = 30
	_, buckets := usageAfter(t, Config{Credentials: n, Concurrency: 2, Duration: 200 * time.Millisecond,
		Scenarios: []string{Token}, UsedThisHour: true})
	seen := map[string]bool{}
	for _, b := range buckets {
		if b.TokensIssued < 1 || b.LastUsedAt.IsZero() {
			t.Errorf("bucket %+v", b)
		}
		seen[b.ClientID] = true
	}
	if len(seen) != n {
		t.Errorf("%d credentials with usage this hour, want %d", len(seen), n)
	}
}

// TestTokenThousandSpread: token-1k asks for tokens of the first 1,000
// credentials only (named bench-0000000 to bench-0000999), and of many
// of them.
func TestTokenThousandSpread(t *testing.T) {
	st, buckets := usageAfter(t, Config{Credentials: thousand + 200, Concurrency: 4, Duration: 300 * time.Millisecond,
		Scenarios: []string{TokenThousand}})
	if len(buckets) < 100 {
		t.Fatalf("%d credentials used, want most of the first %d", len(buckets), thousand)
	}
	for _, b := range buckets {
		c, err := st.GetCredential(t.Context(), b.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		var i int
		if _, err := fmt.Sscanf(c.Name, "bench-%d", &i); err != nil || i >= thousand {
			t.Errorf("token-1k used credential %q", c.Name)
		}
	}
}

// TestDefaultScenarios: token-1k runs by default only when it differs
// from token, that is with more than 1,000 credentials.
func TestDefaultScenarios(t *testing.T) {
	for _, tc := range []struct {
		credentials int
		want        bool
	}{{0, false}, {20, false}, {1000, false}, {1001, true}, {1_000_000, true}} {
		c := Config{Credentials: tc.credentials}
		if err := c.defaults(); err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(c.Scenarios, TokenThousand); got != tc.want || len(c.Scenarios) < len(Scenarios)-1 {
			t.Errorf("%d credentials: scenarios %v", tc.credentials, c.Scenarios)
		}
	}
	// Asked for by name, it runs whatever the number.
	c := Config{Credentials: 20, Scenarios: []string{TokenThousand}}
	if err := c.defaults(); err != nil || !slices.Equal(c.Scenarios, []string{TokenThousand}) {
		t.Errorf("explicit token-1k: %v, %v", c.Scenarios, err)
	}
}

// TestKeyringBasic holds the load generator's own encoding of a
// credential to the credential package's.
func TestKeyringBasic(t *testing.T) {
	kr := &keyring{}
	for i := range 50 {
		id, secret, err := kr.credential(i * 7919)
		if err != nil {
			t.Fatal(err)
		}
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
		if got := string(kr.appendBasic(nil, i*7919)); got != want {
			t.Fatalf("credential %d: %s, want %s", i, got, want)
		}
	}
}

// TestHistogram checks the quantiles against the exact ones.
func TestHistogram(t *testing.T) {
	var h histogram
	vals := make([]time.Duration, 10000)
	for i := range vals {
		vals[i] = time.Duration(rand.ExpFloat64() * float64(time.Millisecond))
		h.record(vals[i])
	}
	sorted := append([]time.Duration(nil), vals...)
	for i := range sorted {
		for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := sorted[int(q*float64(len(sorted)))-1]
		got := h.quantile(q)
		if d := float64(got-exact) / float64(exact); d > 0.02 || d < -0.02 {
			t.Errorf("p%v = %v, exact %v", q*100, got, exact)
		}
	}
	if h.quantile(1) != h.max {
		t.Errorf("p100 = %v, max %v", h.quantile(1), h.max)
	}
}

// TestSliceWritesItsUsage: when a slice ends, the usage of every token it
// issued (and of its warm-up) is in the store, so that no flush of one
// slice's usage lands in another's measurement.
func TestSliceWritesItsUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and drives load")
	}
	cfg := Config{Credentials: 50, Concurrency: 2, Duration: 300 * time.Millisecond, Rounds: 3,
		Scenarios: []string{Token}, DatabaseURL: filepath.Join(t.TempDir(), "bench.db")}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	e, err := setUp(t.Context(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	p, err := e.prepare(t.Context(), Token)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	issued := func() int64 {
		buckets, err := e.st.ListUsage(t.Context(), store.UsageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, b := range buckets {
			n += b.TokensIssued
		}
		return n
	}
	before := issued()
	for round := range cfg.Rounds {
		warm := p.warm
		prev := p.total.requests - p.total.errors
		if err := e.slice(t.Context(), p, round); err != nil {
			t.Fatal(err)
		}
		now, served := issued(), p.total.requests-p.total.errors
		// The warm-up's tokens are not counted in p.total: at least the
		// slice's own, and exactly those after the first.
		if got := now - before; got < served-prev || (warm && got != served-prev) {
			t.Errorf("round %d: %d tokens issued in the store after the slice, the slice issued %d", round, got, served-prev)
		}
		before = now
	}
}
