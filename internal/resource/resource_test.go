package resource_test

import (
	"errors"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/resource"
	"sapient.dev/sapient/internal/store/storetest"
)

func TestValidate(t *testing.T) {
	for uri, ok := range map[string]bool{
		"https://api.example.com":         true,
		"https://api.example.com/v1":      true,
		"http://localhost:9000":           true,
		"":                                false,
		"api.example.com":                 false,
		"/v1":                             false,
		"ftp://api.example.com":           false,
		"https://api.example.com/#x":      false,
		"https://api.example.com/?a=b":    false,
		"https://user:pw@api.example.com": false,
		"https://":                        false,
	} {
		if err := resource.Validate(uri); (err == nil) != ok {
			t.Errorf("Validate(%q) = %v, want ok %v", uri, err, ok)
		}
	}
}

func TestRegister(t *testing.T) {
	s := storetest.Open(t, storetest.SQLiteURL(t))
	customer := access.Actor{Kind: access.KindUser, OrgID: "org_1"}
	if _, err := resource.Register(t.Context(), s, customer, "https://api.example.com", "", time.Now()); !errors.Is(err, resource.ErrForbidden) {
		t.Errorf("a customer registering: %v, want ErrForbidden", err)
	}
	if _, err := resource.Register(t.Context(), s, access.CLI, "https://api.example.com", "Shipments", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := resource.Register(t.Context(), s, access.CLI, "https://api.example.com", "", time.Now()); !errors.Is(err, resource.ErrExists) {
		t.Errorf("registering again: %v, want ErrExists", err)
	}
	var set resource.Set
	if err := set.Load(t.Context(), s); err != nil || !set.Has("https://api.example.com") || set.Has("https://other.example.com") {
		t.Errorf("Set after Load: %v", err)
	}
}
