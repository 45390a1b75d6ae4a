package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// use is a bucket of one token issued at at from ip, in at's hour.
func use(clientID string, at time.Time, ip string) store.UsageBucket {
	return store.UsageBucket{ClientID: clientID, OrgID: "org_1", Hour: at.Truncate(time.Hour),
		TokensIssued: 1, LastUsedAt: at, LastUsedIP: ip}
}

// refusal is a bucket of one refused token request at at: no last use.
func refusal(clientID string, at time.Time) store.UsageBucket {
	return store.UsageBucket{ClientID: clientID, OrgID: "org_1", Hour: at.Truncate(time.Hour), TokensRefused: 1}
}

func addUsage(t *testing.T, s store.Store, buckets ...store.UsageBucket) {
	t.Helper()
	if err := s.AddUsage(ctx(t), buckets); err != nil {
		t.Fatalf("AddUsage: %v", err)
	}
}

// lastUse is the last use GetCredential reads.
func lastUse(t *testing.T, s store.Store, clientID string) (time.Time, string) {
	t.Helper()
	c, err := s.GetCredential(ctx(t), clientID)
	if err != nil {
		t.Fatalf("GetCredential(%s): %v", clientID, err)
	}
	return c.LastUsedAt, c.LastUsedIP
}

func wantLastUse(t *testing.T, s store.Store, clientID string, at time.Time, ip string) {
	t.Helper()
	if gotAt, gotIP := lastUse(t, s, clientID); !gotAt.Equal(at) || gotIP != ip {
		t.Errorf("%s last used %v from %q, want %v from %q", clientID, gotAt, gotIP, at, ip)
	}
}

// testUsageLastUse: AddUsage carries each bucket's last use and moves it
// forward only, whatever order flushes of one hour come in.
func testUsageLastUse(t *testing.T, s store.Store) {
	h0 := base
	early, late := h0.Add(10*time.Minute), h0.Add(20*time.Minute)
	bucket := func(clientID string) store.UsageBucket {
		t.Helper()
		got, err := s.ListUsage(ctx(t), store.UsageFilter{ClientID: clientID})
		if err != nil || len(got) != 1 {
			t.Fatalf("ListUsage(%s) = %+v, %v; want one bucket", clientID, got, err)
		}
		return got[0]
	}
	tests := []struct {
		name     string
		calls    [][]store.UsageBucket // one AddUsage call each
		at       time.Time
		ip       string
		issued   int64
		refused  int64
		clientID string
	}{
		{name: "later flush first", clientID: "a",
			calls: [][]store.UsageBucket{{use("a", late, "192.0.2.2")}, {use("a", early, "192.0.2.1")}},
			at:    late, ip: "192.0.2.2", issued: 2},
		{name: "earlier flush first", clientID: "b",
			calls: [][]store.UsageBucket{{use("b", early, "192.0.2.1")}, {use("b", late, "192.0.2.2")}},
			at:    late, ip: "192.0.2.2", issued: 2},
		{name: "one call, later bucket first", clientID: "c",
			calls: [][]store.UsageBucket{{use("c", late, "192.0.2.2"), use("c", early, "192.0.2.1")}},
			at:    late, ip: "192.0.2.2", issued: 2},
		{name: "one call, earlier bucket first", clientID: "d",
			calls: [][]store.UsageBucket{{use("d", early, "192.0.2.1"), use("d", late, "192.0.2.2")}},
			at:    late, ip: "192.0.2.2", issued: 2},
		{name: "refusals after a use leave it", clientID: "e",
			calls: [][]store.UsageBucket{{use("e", early, "192.0.2.1")}, {refusal("e", late)}, {refusal("e", late), refusal("e", late)}},
			at:    early, ip: "192.0.2.1", issued: 1, refused: 3},
		{name: "a use after refusals sets it", clientID: "f",
			calls: [][]store.UsageBucket{{refusal("f", late)}, {use("f", early, "2001:db8::1")}},
			at:    early, ip: "2001:db8::1", issued: 1, refused: 1},
		{name: "refusals only", clientID: "g",
			calls:   [][]store.UsageBucket{{refusal("g", early)}, {refusal("g", late)}},
			refused: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, call := range tt.calls {
				addUsage(t, s, call...)
			}
			b := bucket(tt.clientID)
			if !b.LastUsedAt.Equal(tt.at) || b.LastUsedIP != tt.ip || b.TokensIssued != tt.issued || b.TokensRefused != tt.refused {
				t.Errorf("bucket = %+v; want last use %v from %q, %d issued, %d refused", b, tt.at, tt.ip, tt.issued, tt.refused)
			}
		})
	}

	// Instances flushing the same bucket at once: the latest use wins.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			err := s.AddUsage(ctx(t), []store.UsageBucket{use("z", h0.Add(time.Duration(i)*time.Minute), fmt.Sprintf("192.0.2.%d", i))})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if b := bucket("z"); !b.LastUsedAt.Equal(h0.Add(9*time.Minute)) || b.LastUsedIP != "192.0.2.9" || b.TokensIssued != 10 {
		t.Errorf("after concurrent flushes bucket = %+v, want last use %v from 192.0.2.9, 10 issued", b, h0.Add(9*time.Minute))
	}
}

// testCredentialLastUse: GetCredential, ListCredentials and
// UpdateCredential show the latest last use of the credential's usage, or
// the one kept with the credential when that is later or the only one, and
// writing usage does not change the credential's UpdatedAt.
func testCredentialLastUse(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	h0, h1, h2 := base, base.Add(time.Hour), base.Add(2*time.Hour)
	kept := h1.Add(30 * time.Minute) // the last use kept with "own" and "both"
	for _, id := range []string{"hours", "late", "never", "own", "both", "older"} {
		c := credential(id, "org_1", id)
		switch id {
		case "own", "both":
			c.LastUsedAt, c.LastUsedIP = kept, "198.51.100.1"
		case "older":
			c.LastUsedAt, c.LastUsedIP = h0.Add(-time.Hour), "198.51.100.2"
		}
		if _, err := s.CreateCredential(ctx(t), c); err != nil {
			t.Fatal(err)
		}
	}
	versions := map[string]int64{}
	lastBefore := mustVersions(t, s, versions)
	// "hours": two hours in one call, then an older hour and a refusal in
	// a newer one; the last use stays in the latest hour that has one.
	addUsage(t, s, use("hours", h0.Add(5*time.Minute), "192.0.2.1"), use("hours", h1.Add(5*time.Minute), "192.0.2.2"))
	addUsage(t, s, use("hours", h0.Add(50*time.Minute), "192.0.2.3"), refusal("hours", h2.Add(time.Minute)))
	// "late": the later hour arrives after the earlier one.
	addUsage(t, s, use("late", h0.Add(5*time.Minute), "192.0.2.4"))
	addUsage(t, s, use("late", h1.Add(59*time.Minute), "192.0.2.5"))
	// "both": usage earlier than what the credential keeps; "older": later.
	addUsage(t, s, use("both", h1.Add(10*time.Minute), "192.0.2.6"), use("older", h0.Add(time.Minute), "192.0.2.7"))
	addUsage(t, s, refusal("never", h0))

	want := map[string]struct {
		at time.Time
		ip string
	}{
		"hours": {h1.Add(5 * time.Minute), "192.0.2.2"},
		"late":  {h1.Add(59 * time.Minute), "192.0.2.5"},
		"never": {},
		"own":   {kept, "198.51.100.1"},
		"both":  {kept, "198.51.100.1"},
		"older": {h0.Add(time.Minute), "192.0.2.7"},
	}
	for id, w := range want {
		wantLastUse(t, s, id, w.at, w.ip)
	}
	list, err := s.ListCredentials(ctx(t), store.CredentialFilter{OrgID: "org_1"})
	if err != nil || len(list) != len(want) {
		t.Fatalf("ListCredentials = %d credentials, %v; want %d", len(list), err, len(want))
	}
	all, err := s.ListCredentials(ctx(t), store.CredentialFilter{})
	if err != nil || len(all) != len(want) {
		t.Fatalf("ListCredentials(all) = %d credentials, %v; want %d", len(all), err, len(want))
	}
	for _, c := range append(list, all...) {
		if w := want[c.ClientID]; !c.LastUsedAt.Equal(w.at) || c.LastUsedIP != w.ip {
			t.Errorf("ListCredentials: %s last used %v from %q, want %v from %q", c.ClientID, c.LastUsedAt, c.LastUsedIP, w.at, w.ip)
		}
		if c.Version != versions[c.ClientID] || c.Name != c.ClientID || c.OrgID != "org_1" {
			t.Errorf("ListCredentials: %+v; usage changed the credential", c)
		}
	}
	if last, _ := s.LastChange(ctx(t)); last != lastBefore {
		t.Errorf("writing usage moved the change log from %d to %d", lastBefore, last)
	}

	// An update reads the last use the same way and leaves it alone.
	up, err := s.UpdateCredential(ctx(t), "hours", func(c store.Credential) (store.Credential, error) {
		if w := want["hours"]; !c.LastUsedAt.Equal(w.at) || c.LastUsedIP != w.ip {
			t.Errorf("UpdateCredential read last use %v from %q, want %v from %q", c.LastUsedAt, c.LastUsedIP, w.at, w.ip)
		}
		c.Name, c.UpdatedAt = "renamed", base.Add(time.Second)
		c.LastUsedAt, c.LastUsedIP = h2, "203.0.113.9" // not the update's to change
		return c, nil
	})
	if err != nil || up.Name != "renamed" || !up.LastUsedAt.Equal(want["hours"].at) || up.LastUsedIP != want["hours"].ip {
		t.Errorf("UpdateCredential = %+v, %v; want the name changed and the last use as read", up, err)
	}
	wantLastUse(t, s, "hours", want["hours"].at, want["hours"].ip)
}

// testPruneUsageKeepsLastUse: deleting old usage keeps the latest last use
// it held with the credential, never moving the credential's back, and
// without changing UpdatedAt.
func testPruneUsageKeepsLastUse(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	h0, h1, h2 := base, base.Add(time.Hour), base.Add(2*time.Hour)
	for _, id := range []string{"old", "recent", "kept", "refused"} {
		c := credential(id, "org_1", id)
		if id == "kept" {
			c.LastUsedAt, c.LastUsedIP = h0.Add(50*time.Minute), "198.51.100.1"
		}
		if _, err := s.CreateCredential(ctx(t), c); err != nil {
			t.Fatal(err)
		}
	}
	addUsage(t, s,
		// "old": its last use is in h0, with a refusal only in h1.
		use("old", h0.Add(5*time.Minute), "192.0.2.1"), use("old", h0.Add(-time.Hour+time.Minute), "192.0.2.9"),
		refusal("old", h1),
		// "recent": used in h0 and h1.
		use("recent", h0.Add(time.Minute), "192.0.2.2"), use("recent", h1.Add(time.Minute), "192.0.2.3"),
		// "kept": its own last use is later than its pruned usage.
		use("kept", h0.Add(10*time.Minute), "192.0.2.4"),
		// "refused": only refusals, then pruned.
		refusal("refused", h0),
		// no credential: pruned without effect.
		use("gone", h0.Add(time.Minute), "192.0.2.5"),
	)
	lastBefore := mustVersions(t, s, map[string]int64{})
	n, err := s.PruneUsage(ctx(t), h1)
	if err != nil || n != 6 {
		t.Fatalf("PruneUsage(h1) = %d, %v; want 6 buckets", n, err)
	}
	if left, _ := s.ListUsage(ctx(t), store.UsageFilter{To: h1}); len(left) != 0 {
		t.Errorf("PruneUsage left %+v", left)
	}
	wantLastUse(t, s, "old", h0.Add(5*time.Minute), "192.0.2.1")
	wantLastUse(t, s, "recent", h1.Add(time.Minute), "192.0.2.3")
	wantLastUse(t, s, "kept", h0.Add(50*time.Minute), "198.51.100.1")
	wantLastUse(t, s, "refused", time.Time{}, "")

	// Pruning everything leaves each last use with its credential.
	if n, err := s.PruneUsage(ctx(t), h2); err != nil || n != 2 {
		t.Fatalf("PruneUsage(h2) = %d, %v; want 2 buckets", n, err)
	}
	if left, _ := s.ListUsage(ctx(t), store.UsageFilter{}); len(left) != 0 {
		t.Errorf("PruneUsage left %+v", left)
	}
	wantLastUse(t, s, "old", h0.Add(5*time.Minute), "192.0.2.1")
	wantLastUse(t, s, "recent", h1.Add(time.Minute), "192.0.2.3")
	if last, _ := s.LastChange(ctx(t)); last != lastBefore {
		t.Errorf("PruneUsage moved the change log from %d to %d", lastBefore, last)
	}
}

// mustVersions records each credential's version in versions and returns
// the change log's position.
func mustVersions(t *testing.T, s store.Store, versions map[string]int64) int64 {
	t.Helper()
	list, err := s.ListCredentials(ctx(t), store.CredentialFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		versions[c.ClientID] = c.Version
	}
	last, err := s.LastChange(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return last
}
