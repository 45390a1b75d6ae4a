// Package jsonw appends JSON values to a byte slice without reflection, for
// the answers on Sapient's hot paths. Its output is byte for byte what
// encoding/json writes.
package jsonw

import (
	"encoding/json"
	"time"
)

// String appends s as a JSON string. Printable ASCII other than the
// characters encoding/json escapes is copied as it is; anything else
// (never seen in Sapient's identifiers, possible in a configured issuer or
// a credential's name) goes through encoding/json.
func String(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Time appends t as encoding/json writes a time.Time: RFC 3339 with
// nanoseconds, quoted; a year outside 0-9999 goes through encoding/json.
func Time(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		q, _ := json.Marshal(t)
		return append(b, q...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
