package clientip

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestIP(t *testing.T) {
	proxies, err := ParsePrefixes("10.0.0.0/8, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	trusting := &Resolver{TrustedProxies: proxies}
	tests := []struct {
		name   string
		res    *Resolver
		remote string
		xff    []string
		want   string
	}{
		{"no proxy configured ignores the header", &Resolver{}, "192.0.2.1:1234", []string{"198.51.100.7"}, "192.0.2.1"},
		{"untrusted peer ignores the header", trusting, "192.0.2.1:1234", []string{"198.51.100.7"}, "192.0.2.1"},
		{"trusted peer", trusting, "10.1.2.3:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"rightmost untrusted hop wins", trusting, "10.1.2.3:1234", []string{"203.0.113.9, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"spoofed left part ignored", trusting, "10.1.2.3:1234", []string{"1.1.1.1", "198.51.100.7"}, "198.51.100.7"},
		{"malformed hop stops the walk", trusting, "10.1.2.3:1234", []string{"198.51.100.7, junk"}, "10.1.2.3"},
		{"IPv6 trusted peer", trusting, "[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, "2001:db8:1::5"},
		{"IPv4-mapped peer", &Resolver{}, "[::ffff:192.0.2.1]:1", nil, "192.0.2.1"},
		{"all hops trusted", trusting, "10.1.2.3:1234", []string{"10.4.4.4"}, "10.4.4.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.res.IP(r); got.String() != tt.want {
				t.Errorf("IP = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestParseAndAllowed(t *testing.T) {
	for _, bad := range []string{"300.1.1.1", "192.0.2.0/33", "example.com", "2001:db8::/129", "1.2.3.4/"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q) succeeded", bad)
		}
	}
	list, err := ParsePrefixes("192.0.2.0/24 2001:db8::/32 198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"192.0.2.200": true, "192.0.3.1": false, "2001:db8:5::1": true, "2001:db9::1": false,
		"198.51.100.7": true, "198.51.100.8": false, "::ffff:192.0.2.5": true,
	} {
		if got := Allowed(list, netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", addr, got, want)
		}
	}
	if !Allowed(nil, netip.MustParseAddr("203.0.113.1")) {
		t.Error("an empty allow-list must allow every address")
	}
	if p, _ := ParsePrefix("192.0.2.77/24"); p.String() != "192.0.2.0/24" {
		t.Errorf("prefix not masked: %v", p)
	}
}
