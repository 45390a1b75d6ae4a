package store

import (
	"testing"
	"time"
)

// TestFoldingDue: a write folds at most every foldEvery, counting from the
// first write; of writes that find a fold due at once, one folds; after a
// failed fold the next write folds again.
func TestFoldingDue(t *testing.T) {
	var f folding
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if f.due(t0) {
		t.Fatal("the first write folds")
	}
	if f.due(t0.Add(foldEvery - time.Millisecond)) {
		t.Fatal("a write folds before foldEvery has passed")
	}
	if !f.due(t0.Add(foldEvery)) {
		t.Fatal("no fold when foldEvery has passed")
	}
	if f.due(t0.Add(foldEvery)) {
		t.Fatal("two writes fold at once")
	}
	if f.due(t0.Add(2*foldEvery - time.Millisecond)) {
		t.Fatal("a write folds before foldEvery has passed since the last fold")
	}
	f.retry()
	if !f.due(t0.Add(2*foldEvery - time.Millisecond)) {
		t.Fatal("no fold after a failed one")
	}
}
