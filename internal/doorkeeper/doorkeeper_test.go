package doorkeeper

import "testing"

// TestAdmit checks that a key is admitted when it comes back to its slot,
// and that a key that took the slot meanwhile pushes it out, so that it is
// admitted later rather than never.
func TestAdmit(t *testing.T) {
	var d Table
	a, b := uint64(2), uint64(2+2*Slots<<8) // the same slot, other hashes
	for i, step := range []struct {
		h    uint64
		want bool
	}{{a, false}, {a, true}, {a, true}, {b, false}, {a, false}, {a, true}, {b, false}} {
		if got := d.Admit(step.h); got != step.want {
			t.Errorf("step %d: Admit(%#x) = %v, want %v", i, step.h, got, step.want)
		}
	}
	// Keys in different slots do not disturb each other.
	var e Table
	for h := uint64(0); h < 1000; h++ {
		e.Admit(h << 1)
	}
	for h := uint64(0); h < 1000; h++ {
		if !e.Admit(h << 1) {
			t.Fatalf("key %d, alone in its slot, was not admitted the second time", h)
		}
	}
}
