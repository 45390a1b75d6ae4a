package jsonw

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSameAsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "sapci_abc", "a\"b", `back\slash`, "<script>&", "tab\tnew\nline", "é ünïcode", "\u2028", "\xff"} {
		want, _ := json.Marshal(s)
		if got := String(nil, s); string(got) != string(want) {
			t.Errorf("String(%q) = %s, want %s", s, got, want)
		}
	}
	for _, tm := range []time.Time{time.Unix(1795632973, 0).UTC(), time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))} {
		want, _ := json.Marshal(tm)
		if got := Time(nil, tm); string(got) != string(want) {
			t.Errorf("Time(%v) = %s, want %s", tm, got, want)
		}
	}
}
