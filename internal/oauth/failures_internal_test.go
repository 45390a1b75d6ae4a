package oauth

import (
	"net/netip"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	t.Run("spends only on failure and refills", func(t *testing.T) {
		l := NewFailureLimiter(2, 4)
		a := netip.MustParseAddr("192.0.2.1")
		for range 10 {
			if _, ok := l.Allow(a, t0); !ok {
				t.Fatal("refused before any failure")
			}
		}
		for range 4 {
			l.Fail(a, t0)
		}
		wait, ok := l.Allow(a, t0)
		if ok || wait != 500*time.Millisecond {
			t.Fatalf("after 4 failures: ok %v wait %v, want refused for 500ms", ok, wait)
		}
		if _, ok := l.Allow(a, t0.Add(500*time.Millisecond)); !ok {
			t.Fatal("still refused once one failure has refilled")
		}
		if _, ok := l.Allow(netip.MustParseAddr("192.0.2.2"), t0); !ok {
			t.Fatal("another address refused")
		}
	})
	t.Run("IPv6 by /64, IPv4-mapped as IPv4", func(t *testing.T) {
		l := NewFailureLimiter(1, 1)
		l.Fail(netip.MustParseAddr("2001:db8:1:2::1"), t0)
		if _, ok := l.Allow(netip.MustParseAddr("2001:db8:1:2:ffff::9"), t0); ok {
			t.Error("another address of the same /64 is not counted with it")
		}
		if _, ok := l.Allow(netip.MustParseAddr("2001:db8:1:3::1"), t0); !ok {
			t.Error("another /64 is counted with the first")
		}
		l.Fail(netip.MustParseAddr("::ffff:192.0.2.7"), t0)
		if _, ok := l.Allow(netip.MustParseAddr("192.0.2.7"), t0); ok {
			t.Error("an IPv4-mapped address is not the IPv4 address")
		}
		if _, ok := l.Allow(netip.MustParseAddr("192.0.2.8"), t0); !ok {
			t.Error("IPv4 addresses are grouped")
		}
	})
	t.Run("bounded memory", func(t *testing.T) {
		l := NewFailureLimiter(1, 1)
		for i := range 3 * MaxAddresses {
			l.Fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), t0)
		}
		n := 0
		for i := range l.shards {
			n += len(l.shards[i].buckets)
		}
		if n > MaxAddresses {
			t.Errorf("%d addresses remembered, bound %d", n, MaxAddresses)
		}
	})
	t.Run("nil limits nothing", func(t *testing.T) {
		l := NewFailureLimiter(-1, 0)
		l.Fail(netip.Addr{}, t0)
		if _, ok := l.Allow(netip.Addr{}, t0); !ok {
			t.Error("a nil limiter refused")
		}
	})
}
