package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"sapient.dev/sapient/internal/store"
)

func TestValidateURL(t *testing.T) {
	cases := []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/sapient", false, true},
		{"https://hooks.example.com:8443/in?x=1", false, true},
		{"http://hooks.example.com/in", false, false},
		{"http://hooks.example.com/in", true, true},
		{"ftp://hooks.example.com/in", true, false},
		{"hooks.example.com/in", false, false},
		{"", false, false},
		{"https://user:pass@hooks.example.com/", false, false},
		{"https://hooks.example.com/#frag", false, false},
		{"https://localhost/in", false, false},
		{"https://api.localhost/in", false, false},
		{"https://127.0.0.1/in", false, false},
		{"https://[::1]/in", false, false},
		{"https://10.1.2.3/in", false, false},
		{"https://192.168.0.10/in", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://100.100.100.200/", false, false},
		{"https://metadata.google.internal/", false, false},
		{"https://[fd00:ec2::254]/", false, false},
		{"https://[::ffff:127.0.0.1]/", false, false},
		{"https://0.0.0.0/", false, false},
		{"https://127.0.0.1/in", true, true},
		{"https://" + strings.Repeat("a", 2100) + ".example.com/", false, false},
	}
	for _, c := range cases {
		_, err := ValidateURL(c.url, c.allowPrivate)
		var verr *ValidationError
		if c.ok != (err == nil) || (err != nil && !errors.As(err, &verr)) {
			t.Errorf("ValidateURL(%.60q, allowPrivate=%v) = %v, want ok=%v", c.url, c.allowPrivate, err, c.ok)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::ffff:10.0.0.1": false, "224.0.0.1": false, "::": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestDeliverySafety: without allow-private, the dialer refuses a
// loopback address whatever the URL said (a host name that resolves to
// it included); redirects are not followed; the answer is read only up to
// its bound; a slow receiver runs into the timeout of the context.
func TestDeliverySafety(t *testing.T) {
	hits := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redirect.Close()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 10<<20)))
	}))
	defer big.Close()
	defer big.CloseClientConnections()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // then the server notices the client going away
		<-r.Context().Done()
	}))
	defer slow.Close()
	defer slow.CloseClientConnections()

	strict := newHTTPClient(false)
	for _, u := range []string{target.URL, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)} {
		_, err := strict.Post(u, "application/json", nil)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("strict client to %s: %v, want ErrForbiddenAddress", u, err)
		}
	}
	if hits != 0 {
		t.Fatalf("the loopback receiver was reached %d times", hits)
	}

	open := newHTTPClient(true)
	resp, err := open.Post(redirect.URL, "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusFound || hits != 0 {
		t.Errorf("redirect: %v, %v, %d hits; want 302 and no hit", resp, err, hits)
	}
	resp.Body.Close()

	q := &Queue{http: open, cfg: QueueConfig{Now: time.Now}}
	secret, _ := NewSecret(strings.NewReader(strings.Repeat("k", 64)))
	code, err := q.send(context.Background(), big.URL, secret, testDelivery())
	if err != nil || code != 200 {
		t.Errorf("big answer: %d, %v", code, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := q.send(ctx, slow.URL, secret, testDelivery()); err == nil {
		t.Error("a receiver that never answers did not time out")
	}
}

func testDelivery() store.WebhookDelivery {
	return store.WebhookDelivery{ID: "msg_test", Payload: []byte(`{"type":"credential.created"}`)}
}

// TestRetrySchedule: with the defaults, a delivery is retried with
// exponential backoff for more than a day, and longer than an endpoint
// takes to be disabled.
func TestRetrySchedule(t *testing.T) {
	q := &Queue{opt: Options{RetryBase: DefaultRetryBase, RetryCap: DefaultRetryCap, MaxAttempts: DefaultMaxAttempts}}
	var total time.Duration
	var delays []time.Duration
	for failedBefore := range DefaultMaxAttempts - 1 { // no retry after the last attempt
		d := q.backoff(failedBefore)
		delays = append(delays, d)
		total += d
	}
	if delays[0] != 30*time.Second || delays[1] != time.Minute || delays[2] != 2*time.Minute || delays[len(delays)-1] != 8*time.Hour {
		t.Errorf("delays %v", delays)
	}
	if total < 24*time.Hour || total < DefaultDisableAfter || total > 4*24*time.Hour {
		t.Errorf("retried for %s, want more than a day and than DefaultDisableAfter (%s)", total, DefaultDisableAfter)
	}
}

// TestRetryAfterSlowAttempt: an attempt that took longer than the backoff
// is still retried on this policy. River refuses a retry time before its
// own clock's "now" and falls back to attempt⁴ seconds (16 s for the
// second failure), so the backoff must not be counted from the attempt's
// start.
func TestRetryAfterSlowAttempt(t *testing.T) {
	q := &Queue{opt: Options{RetryBase: 5 * time.Millisecond, RetryCap: 40 * time.Millisecond}}
	began := time.Now().Add(-time.Minute) // the attempt that failed began a minute ago
	job := &rivertype.JobRow{AttemptedAt: &began, Errors: []rivertype.AttemptError{{Attempt: 1}}}
	before := time.Now()
	next := q.NextRetry(job)
	if !next.After(before) || next.After(time.Now().Add(q.opt.RetryCap)) {
		t.Errorf("next retry %s after a slow attempt, want between now (%s) and now + %s", next, before, q.opt.RetryCap)
	}
}
