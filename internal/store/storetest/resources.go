package storetest

import (
	"errors"
	"testing"

	"sapient.dev/sapient/internal/store"
)

// testResources: registered resources are listed by URI, once each, and
// each registration is a change instances follow.
func testResources(t *testing.T, s store.Store) {
	before, _ := s.LastChange(ctx(t))
	for _, uri := range []string{"https://b.example.com", "https://a.example.com/v1"} {
		if err := s.CreateResource(ctx(t), store.Resource{URI: uri, Description: "d", CreatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateResource(ctx(t), store.Resource{URI: "https://b.example.com", CreatedAt: base}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("registering again: %v, want ErrAlreadyExists", err)
	}
	list, err := s.ListResources(ctx(t))
	if err != nil || len(list) != 2 || list[0].URI != "https://a.example.com/v1" || list[1].URI != "https://b.example.com" ||
		list[0].Description != "d" || !list[0].CreatedAt.Equal(base) {
		t.Errorf("ListResources = %+v, %v", list, err)
	}
	changes, _ := s.ChangesAfter(ctx(t), before, 10)
	if len(changes) != 2 || changes[0].Kind != store.ChangeResource || changes[0].Ref != "https://b.example.com" {
		t.Errorf("changes = %+v, want one per registration", changes)
	}
}
