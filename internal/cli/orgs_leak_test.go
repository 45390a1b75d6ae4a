package cli_test

import (
	"strings"
	"testing"

	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestOrgsLeakAction: sapient orgs leak-action shows and chooses what a
// reported leak does, refuses anything but revoke and roll, and writes
// the change, once, in the audit trail.
func TestOrgsLeakAction(t *testing.T) {
	s := newSapient(t, storetest.Backends()[0])
	s.ok(t, "", "orgs", "create", "Acme")
	if out := s.ok(t, "", "orgs", "leak-action", "Acme"); !strings.Contains(out, "revokes the credential") {
		t.Errorf("default: %q", out)
	}
	type action struct {
		Name       string `json:"name"`
		LeakAction string `json:"leak_action"`
	}
	if got := okJSON[action](t, s, "", "orgs", "leak-action", "Acme", "roll", "--json"); got.LeakAction != "roll" || got.Name != "Acme" {
		t.Errorf("after choosing roll: %+v", got)
	}
	s.ok(t, "", "orgs", "leak-action", "Acme", "roll") // the same again: no change
	if out := s.ok(t, "", "orgs", "leak-action", "acme"); !strings.Contains(out, "rolls the credential's secret") {
		t.Errorf("after choosing roll: %q", out)
	}
	if line := s.fails(t, "", "orgs", "leak-action", "Acme", "ignore"); !strings.Contains(line, `"revoke" or "roll"`) {
		t.Errorf("an unknown action: %q", line)
	}
	if line := s.fails(t, "", "orgs", "leak-action", "Nobody", "roll"); !strings.Contains(line, "no organisation") {
		t.Errorf("an unknown organisation: %q", line)
	}
	st := storetest.Open(t, s.env["SAPIENT_DATABASE_URL"])
	evs, err := st.ListAudit(t.Context(), store.AuditFilter{Action: audit.OrgUpdated})
	if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Detail, "rolls the credential's secret") || evs[0].ActorKind != "cli" {
		t.Errorf("organisation.updated events = %+v, %v; want one, for the roll", evs, err)
	}
}
