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
