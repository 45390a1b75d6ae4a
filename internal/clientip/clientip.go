// Package clientip finds the address a request came from. X-Forwarded-For
// is believed only when the connection comes from a configured trusted
// proxy, and never by default.
package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses.
type Resolver struct {
	// TrustedProxies are the networks whose X-Forwarded-For is honoured.
	TrustedProxies []netip.Prefix
}

// ParsePrefixes reads CIDRs or single addresses, separated by commas or
// spaces.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		p, err := ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePrefix reads one CIDR (192.0.2.0/24, 2001:db8::/32) or one address,
// which stands for itself alone. The prefix is returned masked.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a valid CIDR (for example 192.0.2.0/24 or 2001:db8::/32)", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a valid IP address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// IP returns the client address of r: the connection's peer, or, when the
// peer is a trusted proxy, the rightmost X-Forwarded-For address that is
// not itself a trusted proxy.
func (res *Resolver) IP(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !res.trusted(addr) {
		return addr
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return addr // a malformed hop: trust nothing beyond it
			}
			a = a.Unmap()
			if !res.trusted(a) {
				return a
			}
			addr = a
		}
	}
	return addr
}

func (res *Resolver) trusted(a netip.Addr) bool {
	for _, p := range res.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Allowed reports whether addr is inside one of prefixes; an empty list
// allows every address.
func Allowed(prefixes []netip.Prefix, addr netip.Addr) bool {
	if len(prefixes) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
