package usage_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
	"sapient.dev/sapient/internal/usage"
)

// TestServiceIsolation: whatever organisation or credential the query
// names, an actor without Admin authority sees only their own
// organisation's usage, and one with no organisation sees none; an Admin
// sees every organisation's, or the one asked for.
func TestServiceIsolation(t *testing.T) {
	hour := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		s := storetest.New(t, b)
		err := s.AddUsage(t.Context(), []store.UsageBucket{
			{ClientID: "sap_a", OrgID: "org_a", Hour: hour, TokensIssued: 1},
			{ClientID: "sap_b", OrgID: "org_b", Hour: hour, TokensIssued: 2},
			{ClientID: "sap_b", OrgID: "org_b", Hour: hour.Add(time.Hour), APICalls: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		svc := &usage.Service{Store: s}
		customer := access.Actor{Kind: access.KindUser, ID: "usr_a", Role: store.RoleCustomer, OrgID: "org_a"}
		token := access.Actor{Kind: access.KindCredential, ID: "sap_a", Role: store.RoleAdmin, OrgID: "org_a"} // a role a token cannot hold
		admin := access.Actor{Kind: access.KindUser, ID: "usr_admin", Role: store.RoleAdmin}
		orphan := access.Actor{Kind: access.KindUser, ID: "usr_x", Role: store.RoleCustomer}
		tests := []struct {
			name    string
			actor   access.Actor
			org     string
			client  string
			want    []string // client IDs of the rows, in order; nil for none
			wantErr error
		}{
			{"customer", customer, "", "", []string{"sap_a"}, nil},
			{"customer naming another organisation", customer, "org_b", "", []string{"sap_a"}, nil},
			{"customer naming another organisation's credential", customer, "", "sap_b", nil, nil},
			{"customer naming both", customer, "org_b", "sap_b", nil, nil},
			{"token naming another organisation", token, "org_b", "", []string{"sap_a"}, nil},
			{"CLI", access.CLI, "", "", []string{"sap_a", "sap_b", "sap_b"}, nil},
			{"admin", admin, "", "", []string{"sap_a", "sap_b", "sap_b"}, nil},
			{"admin filtering", admin, "org_b", "", []string{"sap_b", "sap_b"}, nil},
			{"customer of no organisation", orphan, "org_b", "", nil, usage.ErrNoOrganisation},
			{"system", access.System, "", "", nil, usage.ErrNoOrganisation},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rows, err := svc.List(t.Context(), tt.actor, usage.Query{OrgID: tt.org, ClientID: tt.client,
					From: hour.Add(-time.Hour), To: hour.Add(2 * time.Hour)})
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("List: %v, want %v", err, tt.wantErr)
				}
				var got []string
				for _, r := range rows {
					got = append(got, r.ClientID)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("List = %v, want %v", got, tt.want)
				}
			})
		}
	})
}

// TestServiceQuery: a period must run forward and be at most MaxSpan
// long; rows add up per day when asked.
func TestServiceQuery(t *testing.T) {
	hour := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := storetest.New(t, storetest.Backend{Name: "sqlite", URL: storetest.SQLiteURL})
	if err := s.AddUsage(t.Context(), []store.UsageBucket{
		{ClientID: "sap_a", OrgID: "org_a", Hour: hour, TokensIssued: 1, APIRefused: 1},
		{ClientID: "sap_a", OrgID: "org_a", Hour: hour.Add(time.Hour), TokensIssued: 2},
	}); err != nil {
		t.Fatal(err)
	}
	svc := &usage.Service{Store: s}
	var qerr *usage.QueryError
	for name, q := range map[string]usage.Query{
		"backwards": {From: hour, To: hour.Add(-time.Hour)},
		"empty":     {From: hour, To: hour},
		"too long":  {From: hour, To: hour.Add(usage.MaxSpan + time.Hour)},
	} {
		if _, err := svc.List(t.Context(), access.CLI, q); !errors.As(err, &qerr) {
			t.Errorf("%s: List = %v, want a QueryError", name, err)
		}
	}
	rows, err := svc.List(t.Context(), access.CLI, usage.Query{From: hour.Add(-24 * time.Hour), To: hour.Add(24 * time.Hour), Daily: true})
	want := usage.Row{ClientID: "sap_a", OrganizationID: "org_a", Start: hour.Truncate(24 * time.Hour), TokensIssued: 3, APIRefused: 1}
	if err != nil || len(rows) != 1 || rows[0] != want {
		t.Errorf("List(daily) = %+v, %v; want %+v", rows, err, want)
	}
}
