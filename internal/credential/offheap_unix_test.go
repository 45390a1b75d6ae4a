//go:build unix

package credential

import (
	"crypto/rand"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestTableOutsideHeap: a table's rows, index and names do not count on
// the Go heap, so that they do not raise the garbage collector's goal.
func TestTableOutsideHeap(t *testing.T) {
	const n = 100_000
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tb := newTable()
	var last string
	for range n {
		id, err := NewClientID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tb.put(testEntry(id, "a credential name", t0), false)
		last = id
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	rows := int64(n * unsafe.Sizeof(row{}))
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > rows/10 {
		t.Errorf("the Go heap grew by %d bytes for %d rows of %d bytes outside it", grew, n, rows)
	}
	if e, ok := tb.get(last); !ok || e.Name != "a credential name" {
		t.Fatalf("get after the fill = %+v, %v", e, ok)
	}
	runtime.KeepAlive(tb)
}

// TestOffHeapHugePageBoundary: a block of a huge page or more starts on a
// huge-page boundary (so that the kernel can back it with huge pages),
// holds what is written to it, and goes back whole.
func TestOffHeapHugePageBoundary(t *testing.T) {
	for _, n := range []int{hugePage, 2*hugePage - 8, 3*hugePage + 4096} {
		b, mapped, err := offHeap(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != n || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%hugePage != 0 {
			t.Errorf("offHeap(%d): %d bytes at %p; want %d on a %d-byte boundary", n, len(b), unsafe.SliceData(b), n, hugePage)
		}
		b[0], b[n-1] = 1, 2
		if b[0] != 1 || b[n-1] != 2 {
			t.Errorf("offHeap(%d) does not keep what is written", n)
		}
		freeOffHeap(mapped)
	}
	b, mapped, err := offHeap(4096)
	if err != nil || len(b) != 4096 || len(mapped) != 4096 {
		t.Fatalf("a small block: %d bytes, mapping of %d, %v", len(b), len(mapped), err)
	}
	freeOffHeap(mapped)
}
