//go:build !unix

package credential

// offHeap returns n zeroed bytes; where anonymous mappings are not at
// hand, from the Go heap.
func offHeap(n int) ([]byte, error) { return make([]byte, n), nil }

// freeOffHeap leaves b to the garbage collector.
func freeOffHeap([]byte) {}
