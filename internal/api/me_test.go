package api

import (
	"encoding/json"
	"testing"
	"time"
)

// TestRFC3339 holds /api/v1/me's times to what time.Time's MarshalJSON
// writes for a whole second in UTC, as they were written before they were
// formatted by hand.
func TestRFC3339(t *testing.T) {
	for _, unix := range []int64{0, 1, 1700000000, 1798761599, 4102444800} {
		want, err := json.Marshal(time.Unix(unix, 0).UTC())
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(rfc3339(unix))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("rfc3339(%d) = %s, want %s", unix, got, want)
		}
	}
}
