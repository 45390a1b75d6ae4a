//go:build unix

package credential

import (
	"syscall"
	"unsafe"
)

// offHeap returns n zeroed bytes outside the Go heap, from an anonymous
// mapping: memory the garbage collector neither scans nor counts towards
// its goal, so that a table of a million credentials does not double
// what the process holds. It must hold no Go pointers. mapped is what to
// give back to freeOffHeap.
//
// A block of a huge page or more starts on a huge-page boundary and is
// offered to the kernel for huge pages. The table is read at random, and
// with 4 KiB pages nearly every look-up among a million credentials misses
// the processor's TLB; amid the rest of a request's work the page tables
// themselves are out of the caches, and in a virtual machine a miss walks
// two sets of them. The mapping reserves a huge page more than n to find
// the boundary; what is never touched takes no memory.
func offHeap(n int) (b, mapped []byte, err error) {
	const prot, flags = syscall.PROT_READ | syscall.PROT_WRITE, syscall.MAP_ANON | syscall.MAP_PRIVATE
	if n < hugePage {
		b, err = syscall.Mmap(-1, 0, n, prot, flags)
		return b, b, err
	}
	if mapped, err = syscall.Mmap(-1, 0, n+hugePage, prot, flags); err != nil {
		return nil, nil, err
	}
	off := (hugePage - int(uintptr(unsafe.Pointer(unsafe.SliceData(mapped)))%hugePage)) % hugePage
	b = mapped[off : off+n : off+n]
	adviseHugePages(b)
	return b, mapped, nil
}

// freeOffHeap returns memory from offHeap.
func freeOffHeap(mapped []byte) { syscall.Munmap(mapped) }
