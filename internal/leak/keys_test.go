package leak_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"sapient.dev/sapient/internal/leak"
)

// TestKeys: keys are fetched once, again for an unknown identifier at
// most once per KeyRefetch, and again after KeyMaxAge; while the URL
// fails, the keys held serve and an unknown one is an error other than
// ErrUnknownKey (so the alert is retried); a request given up on does not
// fail the fetch.
func TestKeys(t *testing.T) {
	sc := newScanner(t, "k1")
	var down atomic.Bool
	var fetches atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		resp, err := http.Get(sc.URL)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	k := &leak.Keys{URL: proxy.URL, Now: func() time.Time { return now }}
	want := func(id string, wantErr error, wantFetches int32) {
		t.Helper()
		key, err := k.Key(t.Context(), id)
		switch {
		case wantErr == nil && (err != nil || key == nil):
			t.Errorf("Key(%s) = %v, %v; want a key", id, key, err)
		case wantErr != nil && !errors.Is(err, wantErr):
			t.Errorf("Key(%s): %v, want %v", id, err, wantErr)
		}
		if n := fetches.Load(); n != wantFetches {
			t.Errorf("after Key(%s): %d fetches, want %d", id, n, wantFetches)
		}
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := k.Key(cancelled, "k1"); err != nil {
		t.Errorf("Key with a cancelled request: %v", err)
	}
	want("k1", nil, 1)
	want("k9", leak.ErrUnknownKey, 1) // within the minute
	now = now.Add(leak.KeyRefetch)
	want("k9", leak.ErrUnknownKey, 2)
	want("k1", nil, 2)
	now = now.Add(leak.KeyMaxAge)
	down.Store(true)
	want("k1", nil, 3) // stale, refetch fails: the held key serves
	if _, err := k.Key(t.Context(), "k9"); err == nil || errors.Is(err, leak.ErrUnknownKey) {
		t.Errorf("Key(k9) while keys cannot be read: %v, want a fetch error", err)
	}
	down.Store(false)
	now = now.Add(leak.KeyRefetch)
	want("k1", nil, 4)
}
