package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// testChangeLog: every write that instances keep in memory appends one
// entry, in order, naming what changed; versions follow the log.
func testChangeLog(t *testing.T, s store.Store) {
	start, err := s.LastChange(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	mustOrg(t, s, "org_1", "Acme")
	if _, err := s.CreateCredential(ctx(t), credential("c1", "org_1", "one")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateOrg(ctx(t), "org_1", func(o store.Org) (store.Org, error) { o.Scopes = nil; return o, nil }); err != nil {
		t.Fatal(err)
	}
	up, err := s.UpdateCredential(ctx(t), "c1", func(c store.Credential) (store.Credential, error) {
		c.RevokedAt = base
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx(t), store.RevokedToken{JTI: "j1", ClientID: "c1", ExpiresAt: base.Add(time.Hour), RevokedAt: base}); err != nil {
		t.Fatal(err)
	}
	k := store.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte("enc"), PublicKey: []byte(`{}`), CreatedAt: base, ActivatesAt: base}
	if err := s.CreateSigningKey(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	// Writes the log does not follow leave it alone.
	if err := s.CreateUser(ctx(t), store.User{ID: "u1", Email: "a@example.com", PasswordHash: "x", Role: store.RoleAdmin, CreatedAt: base, PasswordChangedAt: base}); err != nil {
		t.Fatal(err)
	}
	addUsage(t, s, use("c1", base, "192.0.2.1"))

	got, err := s.ChangesAfter(ctx(t), start, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Change{
		{Kind: store.ChangeOrg, Ref: "org_1"}, {Kind: store.ChangeCredential, Ref: "c1"}, {Kind: store.ChangeOrg, Ref: "org_1"},
		{Kind: store.ChangeCredential, Ref: "c1"}, {Kind: store.ChangeToken, Ref: "j1"}, {Kind: store.ChangeKey, Ref: "k1"},
	}
	for i := range want {
		want[i].Seq = start + int64(i) + 1
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ChangesAfter(%d) = %+v\nwant %+v", start, got, want)
	}
	if up.Version != want[3].Seq {
		t.Errorf("revoked credential's version = %d, want its change's position %d", up.Version, want[3].Seq)
	}
	if last, _ := s.LastChange(ctx(t)); last != want[5].Seq {
		t.Errorf("LastChange = %d, want %d", last, want[5].Seq)
	}
	if page, _ := s.ChangesAfter(ctx(t), want[1].Seq, 2); !slices.Equal(page, want[2:4]) {
		t.Errorf("ChangesAfter(%d, 2) = %+v, want %+v", want[1].Seq, page, want[2:4])
	}
	// A change that fails takes no position.
	if err := s.CreateOrg(ctx(t), store.Org{ID: "org_2", Name: "ACME", CreatedAt: base}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateOrg(duplicate name) = %v", err)
	}
	if last, _ := s.LastChange(ctx(t)); last != want[5].Seq {
		t.Errorf("a failed change moved the log to %d", last)
	}
	// Pruning forgets old entries but never the position.
	if _, err := s.PruneChanges(ctx(t), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if last, _ := s.LastChange(ctx(t)); last != want[5].Seq {
		t.Errorf("after pruning LastChange = %d, want %d", last, want[5].Seq)
	}
	if rest, _ := s.ChangesAfter(ctx(t), start, 100); len(rest) != 1 || rest[0] != want[5] {
		t.Errorf("after pruning ChangesAfter = %+v, want only the newest", rest)
	}
}

// testChangeLogConcurrent: changes made at once from many connections get
// every position once, and a reader that follows the log while they commit
// sees each of them, in order, never skipping one that commits late.
func testChangeLogConcurrent(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	start, _ := s.LastChange(ctx(t))
	const writers, each = 4, 10
	done := make(chan struct{})
	seen := map[string]int64{}
	var readErr error
	go func() {
		defer close(done)
		cursor := start
		for len(seen) < writers*each {
			changes, err := s.ChangesAfter(ctx(t), cursor, 1000)
			if err != nil {
				readErr = err
				return
			}
			for _, c := range changes {
				if c.Seq != cursor+1 {
					readErr = fmt.Errorf("after %d read %d: a position was skipped", cursor, c.Seq)
					return
				}
				cursor = c.Seq
				seen[c.Ref] = c.Seq
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("c%d_%d", w, i)
				if _, err := s.CreateCredential(ctx(t), credential(id, "org_1", id)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the reader did not see every change")
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	for ref, seq := range seen {
		c, err := s.GetCredential(ctx(t), ref)
		if err != nil || c.Version != seq {
			t.Errorf("%s: version %d, %v; its change is at %d", ref, c.Version, err, seq)
		}
	}
}

// testRetireSigningKey: a retired key stays listed with its retirement;
// retiring it again changes nothing; an unknown key is ErrNotFound.
func testRetireSigningKey(t *testing.T, s store.Store) {
	k := store.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte("enc"), PublicKey: []byte(`{}`), CreatedAt: base, ActivatesAt: base}
	if err := s.CreateSigningKey(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	before, _ := s.LastChange(ctx(t))
	at := base.Add(time.Hour)
	if err := s.RetireSigningKey(ctx(t), "k1", at); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireSigningKey(ctx(t), "k1", at.Add(time.Hour)); err != nil {
		t.Errorf("retiring again: %v", err)
	}
	keys, _ := s.ListSigningKeys(ctx(t))
	if len(keys) != 1 || !keys[0].RetiredAt.Equal(at) {
		t.Errorf("ListSigningKeys = %+v, want k1 retired at %v", keys, at)
	}
	if changes, _ := s.ChangesAfter(ctx(t), before, 10); len(changes) != 1 || changes[0].Ref != "k1" || changes[0].Kind != store.ChangeKey {
		t.Errorf("changes after retiring = %+v, want one for k1", changes)
	}
	if err := s.RetireSigningKey(ctx(t), "nope", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RetireSigningKey(nope) = %v, want ErrNotFound", err)
	}
}
