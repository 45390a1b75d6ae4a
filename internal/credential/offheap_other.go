//go:build !unix

package credential

// offHeap returns n zeroed bytes; where anonymous mappings are not at
// hand, from the Go heap.
func offHeap(n int) (b, mapped []byte, err error) {
	b = make([]byte, n)
	return b, b, nil
}

// freeOffHeap leaves b to the garbage collector.
func freeOffHeap([]byte) {}
