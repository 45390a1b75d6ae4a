package bench

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, so a reported percentile is within 1/128 (0.8%) of the true value.
const subBits = 7

// histogram counts latencies in log-linear buckets, like HdrHistogram:
// constant memory, no allocation to record, mergeable. Each load worker
// keeps its own, merged at the end, so recording needs no lock.
type histogram struct {
	counts [64 << subBits]uint64
	n      uint64
	max    time.Duration
}

// bucketOf maps v to its bucket: below 2^subBits exactly, above that by
// its exponent e and its top subBits bits m = v>>e, which lie in
// [2^(subBits-1), 2^subBits).
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - subBits
	return e<<subBits | int(v>>e)
}

// bucketMid is the middle of bucket i's range [m<<e, (m+1)<<e), in
// nanoseconds.
func bucketMid(i int) uint64 {
	e := i >> subBits
	m := uint64(i & (1<<subBits - 1))
	if e == 0 {
		return m
	}
	return m<<e + (uint64(1)<<e)/2
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency at or below which a fraction q of the
// samples fall.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(time.Duration(bucketMid(i)), h.max)
		}
	}
	return h.max
}
