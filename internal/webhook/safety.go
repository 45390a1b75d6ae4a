package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is the error of a delivery whose host resolved to
// an address that webhooks may not reach.
var ErrForbiddenAddress = errors.New("webhook: the URL's host resolves to a loopback, private, link-local or metadata address")

// Bounds of one delivery attempt.
const (
	attemptTimeout  = 10 * time.Second // the whole request, body included
	maxResponseBody = 64 << 10         // bytes of the answer read, the rest ignored
	maxURLLen       = 2048
)

// sharedAddressSpace is RFC 6598's 100.64.0.0/10, where some clouds put
// their metadata services (100.100.100.200).
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// publicAddr reports whether a webhook may reach ip: not loopback,
// private (RFC 1918, RFC 4193), link-local (169.254.0.0/16, where the
// usual cloud metadata service 169.254.169.254 lives, and fe80::/10),
// unspecified, multicast or shared address space.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsLinkLocalUnicast() &&
		!ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast() && !ip.IsMulticast() &&
		!ip.IsUnspecified() && !sharedAddressSpace.Contains(ip) &&
		!(ip.Is4() && ip.As4()[0] == 0) // 0.0.0.0/8: "this network"
}

// ValidateURL checks an endpoint URL when it is set: https, a host, no
// user information, and no host that names a forbidden address outright.
// A host name is checked again after DNS, at each delivery (see
// newHTTPClient), since what it resolves to may change. allowPrivate
// (--webhooks-allow-private) permits http and private hosts, for tests
// and networks the operator trusts.
func ValidateURL(raw string, allowPrivate bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", invalid("url", "Enter the URL that receives the events.")
	}
	if len(raw) > maxURLLen {
		return "", invalid("url", "The URL is too long: at most %d characters.", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", invalid("url", "Enter an absolute URL, such as https://example.com/webhooks.")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return "", invalid("url", "The URL must begin with https://.")
	}
	if u.User != nil {
		return "", invalid("url", "The URL must not hold a user name or password.")
	}
	if u.Fragment != "" {
		return "", invalid("url", "The URL must not have a #fragment.")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if !allowPrivate {
		if host == "localhost" || strings.HasSuffix(host, ".localhost") || host == "metadata.google.internal" {
			return "", invalid("url", "The URL must not point to this machine or a private network.")
		}
		if ip, err := netip.ParseAddr(host); err == nil && !publicAddr(ip) {
			return "", invalid("url", "The URL must not point to a loopback, private, link-local or metadata address.")
		}
	}
	return u.String(), nil
}

// newHTTPClient returns the client deliveries are sent with: the address
// every connection goes to is checked after DNS, in the dialer, so that
// a host name cannot lead a delivery into the operator's network; no
// redirect is followed; the whole attempt is bounded by attemptTimeout;
// no proxy from the environment is used.
func newHTTPClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w (%s)", ErrForbiddenAddress, address)
			}
			if !publicAddr(ap.Addr()) {
				return fmt.Errorf("%w (%s)", ErrForbiddenAddress, ap.Addr())
			}
			return nil
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: attemptTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       time.Minute,
		},
		Timeout: attemptTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
