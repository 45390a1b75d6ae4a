package storetest

import (
	"context"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// twoStepUsage is what a backend that writes usage in two steps (appended
// to a table of pending rows, folded later into the hourly rows) shows the
// suite, so that it can tell that reads neither fold nor wait for a fold.
type twoStepUsage interface {
	FoldUsage(ctx context.Context) error
	PendingUsage(ctx context.Context) (int, error)
	HoldFold(ctx context.Context) (release func() error, err error)
	SingleWriter() bool
}

// waitLimit bounds how long the suite waits for a call that must not
// wait for a fold, so that a regression fails instead of hanging the run.
const waitLimit = 20 * time.Second

func twoStep(t *testing.T, s store.Store) twoStepUsage {
	t.Helper()
	u, ok := s.(twoStepUsage)
	if !ok {
		t.Fatalf("%T does not show the suite its pending usage (FoldUsage, PendingUsage, HoldFold, SingleWriter)", s)
	}
	return u
}

func pending(t *testing.T, u twoStepUsage) int {
	t.Helper()
	n, err := u.PendingUsage(ctx(t))
	if err != nil {
		t.Fatalf("PendingUsage: %v", err)
	}
	return n
}

// usageScene is usage of two credentials of org_1 and one of org_2, part
// folded into the hourly rows and part waiting, with the sums and last
// uses that reads must show.
type usageScene struct {
	h0, h1  time.Time
	waiting int // rows left pending
}

func newUsageScene(t *testing.T, s store.Store, u twoStepUsage) usageScene {
	t.Helper()
	mustOrg(t, s, "org_1", "Acme")
	mustOrg(t, s, "org_2", "Beta")
	for _, c := range []store.Credential{credential("a", "org_1", "a"), credential("b", "org_1", "b"), credential("x", "org_2", "x")} {
		if _, err := s.CreateCredential(ctx(t), c); err != nil {
			t.Fatal(err)
		}
	}
	sc := usageScene{h0: base, h1: base.Add(time.Hour)}
	other := use("x", sc.h0.Add(time.Minute), "203.0.113.1")
	other.OrgID = "org_2"
	// Folded: a in h0 and h1, b in h0, x in h0.
	addUsage(t, s, use("a", sc.h0.Add(10*time.Minute), "192.0.2.1"), use("a", sc.h1.Add(5*time.Minute), "192.0.2.2"),
		use("b", sc.h0.Add(20*time.Minute), "192.0.2.3"), other)
	if err := u.FoldUsage(ctx(t)); err != nil {
		t.Fatalf("FoldUsage: %v", err)
	}
	// Waiting: a later in h1 (the latest use), an earlier use of b in h0
	// (not its latest) with a refusal in h1, and x again.
	addUsage(t, s, use("a", sc.h1.Add(30*time.Minute), "192.0.2.4"), refusal("a", sc.h1.Add(40*time.Minute)))
	addUsage(t, s, use("b", sc.h0.Add(15*time.Minute), "192.0.2.5"), refusal("b", sc.h1.Add(time.Minute)), other)
	sc.waiting = pending(t, u)
	if sc.waiting == 0 {
		t.Fatal("AddUsage folded at once; the scene needs rows waiting")
	}
	return sc
}

// check reads usage and last use through every read people see and
// fails where they are not exact, pending rows included. It reports with
// t.Errorf only, as it also runs on a goroutine of its own.
func (sc usageScene) check(t *testing.T, s store.Store) {
	t.Helper()
	type counts struct{ issued, refused int64 }
	want := map[[2]string]counts{
		{"a", "h0"}: {1, 0}, {"a", "h1"}: {2, 1},
		{"b", "h0"}: {2, 0}, {"b", "h1"}: {0, 1},
	}
	hourName := map[time.Time]string{sc.h0: "h0", sc.h1: "h1"}
	got, err := s.ListUsage(ctx(t), store.UsageFilter{OrgID: "org_1"})
	if err != nil {
		t.Errorf("ListUsage: %v", err)
		return
	}
	if len(got) != len(want) {
		t.Errorf("ListUsage(org_1) = %d buckets, want %d: %+v", len(got), len(want), got)
	}
	for _, b := range got {
		w, ok := want[[2]string{b.ClientID, hourName[b.Hour]}]
		if !ok || b.TokensIssued != w.issued || b.TokensRefused != w.refused || b.OrgID != "org_1" {
			t.Errorf("ListUsage: bucket %+v, want %d issued and %d refused", b, w.issued, w.refused)
		}
	}
	if a1, err := s.ListUsage(ctx(t), store.UsageFilter{ClientID: "a", From: sc.h1}); err != nil || len(a1) != 1 ||
		!a1[0].LastUsedAt.Equal(sc.h1.Add(30*time.Minute)) || a1[0].LastUsedIP != "192.0.2.4" {
		t.Errorf("ListUsage(a from h1) = %+v, %v; want the waiting last use", a1, err)
	}
	if x, err := s.ListUsage(ctx(t), store.UsageFilter{OrgID: "org_2"}); err != nil || len(x) != 1 || x[0].TokensIssued != 2 {
		t.Errorf("ListUsage(org_2) = %+v, %v; want x with 2 issued", x, err)
	}

	lastUses := map[string]struct {
		at time.Time
		ip string
	}{
		"a": {sc.h1.Add(30 * time.Minute), "192.0.2.4"}, // waiting, later than folded
		"b": {sc.h0.Add(20 * time.Minute), "192.0.2.3"}, // folded, later than waiting
	}
	for id, w := range lastUses {
		if c, err := s.GetCredential(ctx(t), id); err != nil || !c.LastUsedAt.Equal(w.at) || c.LastUsedIP != w.ip {
			t.Errorf("GetCredential(%s) = last used %v from %q, %v; want %v from %q", id, c.LastUsedAt, c.LastUsedIP, err, w.at, w.ip)
		}
	}
	list, err := s.ListCredentials(ctx(t), store.CredentialFilter{OrgID: "org_1"})
	if err != nil || len(list) != 2 {
		t.Errorf("ListCredentials(org_1) = %+v, %v; want a and b", list, err)
		return
	}
	for _, c := range list {
		if w := lastUses[c.ClientID]; !c.LastUsedAt.Equal(w.at) || c.LastUsedIP != w.ip {
			t.Errorf("ListCredentials: %s last used %v from %q, want %v from %q", c.ClientID, c.LastUsedAt, c.LastUsedIP, w.at, w.ip)
		}
	}
}

// testReadsDoNotFold: reads of usage and last use, and an update of a
// credential, are exact with rows waiting to be folded, and leave them
// waiting.
func testReadsDoNotFold(t *testing.T, s store.Store) {
	u := twoStep(t, s)
	sc := newUsageScene(t, s, u)
	sc.check(t, s)
	if _, err := s.UpdateCredential(ctx(t), "a", func(c store.Credential) (store.Credential, error) {
		if !c.LastUsedAt.Equal(sc.h1.Add(30*time.Minute)) || c.LastUsedIP != "192.0.2.4" {
			t.Errorf("UpdateCredential read last use %v from %q, want the waiting one", c.LastUsedAt, c.LastUsedIP)
		}
		c.Name, c.UpdatedAt = "renamed", base.Add(time.Second)
		return c, nil
	}); err != nil {
		t.Fatalf("UpdateCredential: %v", err)
	}
	if n := pending(t, u); n != sc.waiting {
		t.Errorf("%d rows wait after the reads and the update, want %d: something folded", n, sc.waiting)
	}
	// Folded, the same reads give the same answers.
	if err := u.FoldUsage(ctx(t)); err != nil {
		t.Fatalf("FoldUsage: %v", err)
	}
	if n := pending(t, u); n != 0 {
		t.Fatalf("%d rows wait after a fold", n)
	}
	sc.check(t, s)
}

// testReadsDuringFold: while a fold holds its write transaction open,
// reads of usage and last use complete, exact; so does an update of a
// credential where the database lets two transactions write at once
// (PostgreSQL). On SQLite, which has one writer, the update waits for the
// fold as for any other write, and completes once it commits.
func testReadsDuringFold(t *testing.T, s store.Store) {
	u := twoStep(t, s)
	sc := newUsageScene(t, s, u)
	release, err := u.HoldFold(ctx(t))
	if err != nil {
		t.Fatalf("HoldFold: %v", err)
	}
	released := false
	defer func() {
		if !released {
			release()
		}
	}()

	reads := make(chan struct{})
	go func() {
		defer close(reads)
		sc.check(t, s)
	}()
	select {
	case <-reads:
	case <-time.After(waitLimit):
		t.Fatal("reads waited for the fold in progress")
	}

	updated := make(chan error, 1)
	go func() {
		_, err := s.UpdateCredential(ctx(t), "b", func(c store.Credential) (store.Credential, error) {
			if !c.LastUsedAt.Equal(sc.h0.Add(20*time.Minute)) || c.LastUsedIP != "192.0.2.3" {
				t.Errorf("UpdateCredential read last use %v from %q", c.LastUsedAt, c.LastUsedIP)
			}
			c.Name, c.UpdatedAt = "renamed", base.Add(time.Second)
			return c, nil
		})
		updated <- err
	}()
	if !u.SingleWriter() {
		select {
		case err := <-updated:
			if err != nil {
				t.Fatalf("UpdateCredential during a fold: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("UpdateCredential waited for the fold in progress")
		}
	}
	released = true
	if err := release(); err != nil {
		t.Fatalf("the held fold: %v", err)
	}
	if u.SingleWriter() {
		if err := <-updated; err != nil {
			t.Fatalf("UpdateCredential after the fold: %v", err)
		}
	}
	if n := pending(t, u); n != 0 {
		t.Errorf("%d rows wait after the held fold committed", n)
	}
	sc.check(t, s)
	if c, err := s.GetCredential(ctx(t), "b"); err != nil || c.Name != "renamed" {
		t.Errorf("GetCredential(b) = %+v, %v; want the update kept", c, err)
	}
}
