//go:build unix

package credential

import "syscall"

// offHeap returns n zeroed bytes outside the Go heap, from an anonymous
// mapping: memory the garbage collector neither scans nor counts towards
// its goal, so that a table of a million credentials does not double
// what the process holds. It must hold no Go pointers.
func offHeap(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

// freeOffHeap returns memory from offHeap.
func freeOffHeap(b []byte) { syscall.Munmap(b) }
