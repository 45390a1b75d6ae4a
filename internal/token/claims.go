package token

import (
	"encoding/json"
	"strconv"
)

// decode sets c from a JWT payload. Payloads in the exact form Issue
// writes (the members of Claims in their order, strings without escapes,
// integers) are read directly; anything else is given to encoding/json,
// so the result is always what json.Unmarshal would give.
func (c *Claims) decode(payload []byte) error {
	var fast Claims
	if fast.decodeFast(payload) {
		*c = fast
		return nil
	}
	*c = Claims{}
	return json.Unmarshal(payload, c)
}

// decodeFast reads the form appendJSON writes and reports whether the
// payload was exactly that form: {"iss":S,"sub":S,"aud":S,"exp":N,"iat":N
// [,"nbf":N],"jti":S,"client_id":S[,"scope":S],"org_id":S}, with no white
// space. A string is printable ASCII without '"' or '\'; a number is an
// integer that fits int64.
func (c *Claims) decodeFast(p []byte) bool {
	d := fastDecoder{p: p}
	ok := d.lit(`{"iss":`) && d.str(&c.Issuer) &&
		d.lit(`,"sub":`) && d.str(&c.Subject) &&
		d.lit(`,"aud":`) && d.str(&c.Audience) &&
		d.lit(`,"exp":`) && d.num(&c.ExpiresAt) &&
		d.lit(`,"iat":`) && d.num(&c.IssuedAt)
	if ok && d.peek(`,"nbf":`) {
		ok = d.lit(`,"nbf":`) && d.num(&c.NotBefore)
	}
	ok = ok && d.lit(`,"jti":`) && d.str(&c.JTI) &&
		d.lit(`,"client_id":`) && d.str(&c.ClientID)
	if ok && d.peek(`,"scope":`) {
		ok = d.lit(`,"scope":`) && d.str(&c.Scope)
	}
	return ok && d.lit(`,"org_id":`) && d.str(&c.OrgID) && d.lit(`}`) && len(d.p) == 0
}

type fastDecoder struct{ p []byte }

func (d *fastDecoder) peek(s string) bool {
	return len(d.p) >= len(s) && string(d.p[:len(s)]) == s
}

func (d *fastDecoder) lit(s string) bool {
	if !d.peek(s) {
		return false
	}
	d.p = d.p[len(s):]
	return true
}

func (d *fastDecoder) str(out *string) bool {
	if len(d.p) == 0 || d.p[0] != '"' {
		return false
	}
	for i := 1; i < len(d.p); i++ {
		switch c := d.p[i]; {
		case c == '"':
			*out = string(d.p[1:i])
			d.p = d.p[i+1:]
			return true
		case c < 0x20 || c > 0x7e || c == '\\':
			return false
		}
	}
	return false
}

func (d *fastDecoder) num(out *int64) bool {
	i := 0
	if i < len(d.p) && d.p[i] == '-' {
		i++
	}
	start := i
	for i < len(d.p) && '0' <= d.p[i] && d.p[i] <= '9' {
		i++
	}
	// JSON forbids leading zeros; a fraction or exponent goes to
	// encoding/json, which refuses it for an int64.
	if i == start || (d.p[start] == '0' && i-start > 1) || (i < len(d.p) && (d.p[i] == '.' || d.p[i] == 'e' || d.p[i] == 'E')) {
		return false
	}
	n, err := strconv.ParseInt(string(d.p[:i]), 10, 64)
	if err != nil {
		return false
	}
	*out = n
	d.p = d.p[i:]
	return true
}
