package org_test

import (
	"slices"
	"testing"

	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/store"
)

// TestOrgCachePutOrder: of the states of an organisation, the cache keeps
// the one with the highest Version, whatever order they arrive in; of two
// with the same Version, the one it holds.
func TestOrgCachePutOrder(t *testing.T) {
	state := func(v int64, scopes ...string) store.Org {
		return store.Org{ID: "org_1", Name: "Acme", Scopes: scopes, Version: v}
	}
	v1, v2, v3 := state(1, "a"), state(2, "a", "b"), state(3)
	tests := []struct {
		name string
		puts []store.Org
		want store.Org
	}{
		{"older then newer", []store.Org{v1, v2}, v2},
		{"newer then older", []store.Org{v2, v1}, v2},
		{"scope withdrawn, then a stale grant", []store.Org{v3, v2, v1}, v3},
		{"a stale grant, then the withdrawal", []store.Org{v1, v3, v2}, v3},
		{"same version: the one held stays", []store.Org{v2, state(2, "x")}, v2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := org.NewCache(nil) // answers from what it was told
			for _, o := range tt.puts {
				c.Put(o)
			}
			got, err := c.Lookup(t.Context(), "org_1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.want.Version || !slices.Equal(got.Scopes, tt.want.Scopes) {
				t.Fatalf("kept version %d %v, want %d %v", got.Version, got.Scopes, tt.want.Version, tt.want.Scopes)
			}
		})
	}
}
