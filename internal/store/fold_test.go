package store

import (
	"path/filepath"
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

// TestAddUsageFoldsWhenDue: a write leaves its buckets in usage_pending
// until a fold is due, then folds everything waiting into usage_hourly.
func TestAddUsageFoldsWhenDue(t *testing.T) {
	ctx := t.Context()
	s, err := OpenMigrated(ctx, filepath.Join(t.TempDir(), "sapient.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hour := time.Now().UTC().Truncate(time.Hour)
	write := func() {
		t.Helper()
		if err := s.AddUsage(ctx, []UsageBucket{{ClientID: "sap_a", OrgID: "org_1", Hour: hour, TokensIssued: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(table string) (n int) {
		t.Helper()
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	write()
	write()
	if p, h := rows("usage_pending"), rows("usage_hourly"); p != 2 || h != 0 {
		t.Fatalf("before a fold is due: %d rows waiting, %d hourly; want 2 and 0", p, h)
	}
	s.shared.fold.last.Store(time.Now().Add(-foldEvery).UnixNano())
	write()
	if p, h := rows("usage_pending"), rows("usage_hourly"); p != 0 || h != 1 {
		t.Fatalf("after a write with a fold due: %d rows waiting, %d hourly; want 0 and 1", p, h)
	}
	var issued int64
	if err := s.db.QueryRowContext(ctx, `SELECT tokens_issued FROM usage_hourly`).Scan(&issued); err != nil || issued != 3 {
		t.Errorf("folded bucket holds %d tokens, %v; want 3", issued, err)
	}
}
