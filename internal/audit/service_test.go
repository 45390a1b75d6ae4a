package audit_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestServiceIsolation: whatever organisation the query names, an actor
// without Admin authority sees only their own organisation's events, and
// one with no organisation sees none; an Admin sees every organisation's,
// or the one asked for.
func TestServiceIsolation(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	storetest.ForEach(t, func(t *testing.T, b storetest.Backend) {
		s := storetest.New(t, b)
		for i, e := range []struct{ id, org string }{{"evt_a1", "org_a"}, {"evt_b1", "org_b"}, {"evt_a2", "org_a"}, {"evt_b2", "org_b"}} {
			ev := store.AuditEvent{ID: e.id, At: at.Add(time.Duration(i) * time.Minute), OrgID: e.org, ActorKind: "cli",
				ActorID: "cli", ActorLabel: "cli", Action: audit.CredentialCreated, Target: "sap_" + e.id}
			if err := s.AppendAudit(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
		}
		svc := &audit.Service{Store: s}
		customer := access.Actor{Kind: access.KindUser, ID: "usr_a", Role: store.RoleCustomer, OrgID: "org_a"}
		token := access.Actor{Kind: access.KindCredential, ID: "sap_a", Role: store.RoleAdmin, OrgID: "org_a"} // a role a token cannot hold
		admin := access.Actor{Kind: access.KindUser, ID: "usr_admin", Role: store.RoleAdmin}
		orphan := access.Actor{Kind: access.KindUser, ID: "usr_x", Role: store.RoleCustomer}
		tests := []struct {
			name    string
			actor   access.Actor
			query   audit.Query
			want    []string // event IDs, newest first; nil for none
			wantErr error
		}{
			{"customer", customer, audit.Query{}, []string{"evt_a2", "evt_a1"}, nil},
			{"customer naming another organisation", customer, audit.Query{OrgID: "org_b"}, []string{"evt_a2", "evt_a1"}, nil},
			{"customer paging into another organisation", customer,
				audit.Query{OrgID: "org_b", Before: at.Add(3 * time.Minute), BeforeID: "evt_b2", Limit: 1}, []string{"evt_a2"}, nil},
			{"token naming another organisation", token, audit.Query{OrgID: "org_b"}, []string{"evt_a2", "evt_a1"}, nil},
			{"admin", admin, audit.Query{}, []string{"evt_b2", "evt_a2", "evt_b1", "evt_a1"}, nil},
			{"admin filtering", admin, audit.Query{OrgID: "org_b"}, []string{"evt_b2", "evt_b1"}, nil},
			{"CLI, a page", access.CLI, audit.Query{Limit: 2}, []string{"evt_b2", "evt_a2"}, nil},
			{"customer of no organisation", orphan, audit.Query{OrgID: "org_b"}, nil, audit.ErrNoOrganisation},
			{"system", access.System, audit.Query{}, nil, audit.ErrNoOrganisation},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				events, err := svc.List(t.Context(), tt.actor, tt.query)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("List: %v, want %v", err, tt.wantErr)
				}
				var got []string
				for _, e := range events {
					got = append(got, e.ID)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("List = %v, want %v", got, tt.want)
				}
			})
		}
	})
}
