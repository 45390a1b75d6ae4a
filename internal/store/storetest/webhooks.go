package storetest

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"sapient.dev/sapient/internal/store"
)

// testWebhooks: endpoints are stored as given, listed by organisation
// (the empty one being the Admin-level endpoints), changed in a
// transaction that an error aborts, and deleted with their deliveries.
func testWebhooks(t *testing.T, s store.Store) {
	mk := func(id, org string, at time.Time) store.WebhookEndpoint {
		return store.WebhookEndpoint{ID: id, OrgID: org, URL: "https://hooks.example.com/" + id, Events: []string{"credential.created", "credential.revoked"},
			Description: "d " + id, SecretSealed: []byte("sealed-" + id), CreatedAt: at, CreatedBy: "cli", UpdatedAt: at}
	}
	a1, a2, b1, p1 := mk("whe_a1", "org_a", base), mk("whe_a2", "org_a", base.Add(time.Second)), mk("whe_b1", "org_b", base), mk("whe_p1", "", base)
	for _, e := range []store.WebhookEndpoint{a2, a1, b1, p1} {
		if err := s.CreateWebhookEndpoint(ctx(t), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateWebhookEndpoint(ctx(t), a1); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("creating again: %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetWebhookEndpoint(ctx(t), "whe_a1")
	if err != nil || !reflect.DeepEqual(got, a1) {
		t.Errorf("GetWebhookEndpoint = %+v, %v; want %+v", got, err, a1)
	}
	if _, err := s.GetWebhookEndpoint(ctx(t), "whe_none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown endpoint: %v", err)
	}
	ids := func(orgs ...string) []string {
		l, err := s.ListWebhookEndpoints(ctx(t), orgs...)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, e := range l {
			out = append(out, e.ID)
		}
		return out
	}
	for _, c := range []struct {
		orgs []string
		want []string
	}{
		{nil, []string{"whe_a1", "whe_b1", "whe_p1", "whe_a2"}},
		{[]string{"org_a"}, []string{"whe_a1", "whe_a2"}},
		{[]string{"org_a", ""}, []string{"whe_a1", "whe_p1", "whe_a2"}},
		{[]string{""}, []string{"whe_p1"}},
		{[]string{"org_none"}, []string{}},
	} {
		if got := ids(c.orgs...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ListWebhookEndpoints(%q) = %v, want %v", c.orgs, got, c.want)
		}
	}

	boom := errors.New("boom")
	if _, err := s.UpdateWebhookEndpoint(ctx(t), "whe_a1", func(e store.WebhookEndpoint) (store.WebhookEndpoint, error) {
		e.URL = "https://changed.example.com/"
		return e, boom
	}); !errors.Is(err, boom) {
		t.Errorf("aborted update: %v", err)
	}
	changed := a1
	changed.URL, changed.Events, changed.UpdatedAt = "https://new.example.com/", []string{"credential.leaked"}, base.Add(time.Hour)
	changed.DisabledAt, changed.DisabledReason, changed.FailingSince = base.Add(2*time.Hour), "failing", base.Add(time.Minute)
	if out, err := s.UpdateWebhookEndpoint(ctx(t), "whe_a1", func(e store.WebhookEndpoint) (store.WebhookEndpoint, error) {
		if !reflect.DeepEqual(e, a1) {
			t.Errorf("update read %+v, want %+v", e, a1)
		}
		return changed, nil
	}); err != nil || !reflect.DeepEqual(out, changed) {
		t.Errorf("update = %+v, %v", out, err)
	}
	if got, _ := s.GetWebhookEndpoint(ctx(t), "whe_a1"); !reflect.DeepEqual(got, changed) {
		t.Errorf("after update: %+v, want %+v", got, changed)
	}
	if _, err := s.UpdateWebhookEndpoint(ctx(t), "whe_none", func(e store.WebhookEndpoint) (store.WebhookEndpoint, error) { return e, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of an unknown endpoint: %v", err)
	}

	if err := s.CreateWebhookDelivery(ctx(t), store.WebhookDelivery{ID: "msg_1", EndpointID: "whe_a2", EventType: "credential.created",
		Payload: []byte("{}"), CreatedAt: base, Status: store.DeliveryPending}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhookEndpoint(ctx(t), "whe_a2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetWebhookDelivery(ctx(t), "msg_1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted endpoint's delivery: %v", err)
	}
	if err := s.DeleteWebhookEndpoint(ctx(t), "whe_a2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting again: %v", err)
	}
}

// testWebhookDeliveries: deliveries are listed newest first, changed in
// a transaction; MarkOnce is true once per mark.
func testWebhookDeliveries(t *testing.T, s store.Store) {
	for i, id := range []string{"msg_old", "msg_new", "msg_mid"} {
		at := map[int]time.Time{0: base, 1: base.Add(2 * time.Second), 2: base.Add(time.Second)}[i]
		if err := s.CreateWebhookDelivery(ctx(t), store.WebhookDelivery{ID: id, EndpointID: "whe_1", OrgID: "org_a", EventType: "credential.created",
			Payload: []byte(`{"type":"credential.created"}`), CreatedAt: at, Status: store.DeliveryPending}); err != nil {
			t.Fatal(err)
		}
	}
	s.CreateWebhookDelivery(ctx(t), store.WebhookDelivery{ID: "msg_other", EndpointID: "whe_2", EventType: "x", Payload: []byte("{}"), CreatedAt: base, Status: store.DeliveryPending})
	list, err := s.ListWebhookDeliveries(ctx(t), "whe_1", 2)
	if err != nil || len(list) != 2 || list[0].ID != "msg_new" || list[1].ID != "msg_mid" || string(list[0].Payload) != `{"type":"credential.created"}` {
		t.Errorf("ListWebhookDeliveries = %+v, %v", list, err)
	}
	want := store.WebhookDelivery{ID: "msg_old", EndpointID: "whe_1", OrgID: "org_a", EventType: "credential.created",
		Payload: []byte(`{"type":"credential.created"}`), CreatedAt: base, Status: store.DeliveryDelivered, Attempts: 3,
		ResponseCode: 204, LatencyMS: 12, LastError: "", LastAttemptAt: base.Add(time.Minute)}
	if out, err := s.UpdateWebhookDelivery(ctx(t), "msg_old", func(d store.WebhookDelivery) (store.WebhookDelivery, error) {
		d.Status, d.Attempts, d.ResponseCode, d.LatencyMS, d.LastAttemptAt = want.Status, want.Attempts, want.ResponseCode, want.LatencyMS, want.LastAttemptAt
		return d, nil
	}); err != nil || !reflect.DeepEqual(out, want) {
		t.Errorf("UpdateWebhookDelivery = %+v, %v", out, err)
	}
	if got, err := s.GetWebhookDelivery(ctx(t), "msg_old"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("after update: %+v, %v; want %+v", got, err, want)
	}
	for i, wantFirst := range []bool{true, false, false} {
		first, err := s.MarkOnce(ctx(t), "expiring:7d:c1", base.Add(time.Duration(i)*time.Second))
		if err != nil || first != wantFirst {
			t.Errorf("MarkOnce #%d = %v, %v; want %v", i, first, err, wantFirst)
		}
	}
	// Inside a transaction a repeated mark leaves it usable (PostgreSQL
	// aborts a transaction on a failed insert).
	err = s.InTx(ctx(t), func(tx store.Store) error {
		if first, err := tx.MarkOnce(ctx(t), "expiring:7d:c1", base); err != nil || first {
			t.Errorf("MarkOnce again in a transaction = %v, %v", first, err)
		}
		_, err := tx.MarkOnce(ctx(t), "expiring:1d:c1", base)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := s.MarkOnce(ctx(t), "expiring:1d:c1", base); first {
		t.Error("the mark made in the transaction was lost")
	}

	for i, c := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {30 * time.Minute, false}, {59 * time.Minute, false}, {time.Hour, true}, {time.Hour + time.Second, false}, {3 * time.Hour, true}} {
		due, err := s.MarkEvery(ctx(t), "rate_limited:c1", base.Add(c.at), time.Hour)
		if err != nil || due != c.want {
			t.Errorf("MarkEvery #%d at +%s = %v, %v; want %v", i, c.at, due, err, c.want)
		}
	}

	// Pruning keeps what is pending and what is recent.
	n, err := s.PruneWebhookDeliveries(ctx(t), base.Add(1500*time.Millisecond))
	if err != nil || n != 1 {
		t.Errorf("PruneWebhookDeliveries = %d, %v; want 1 (msg_old, delivered)", n, err)
	}
	left, _ := s.ListWebhookDeliveries(ctx(t), "whe_1", 10)
	if len(left) != 2 || left[0].ID != "msg_new" || left[1].ID != "msg_mid" {
		t.Errorf("after pruning: %+v", left)
	}
	if first, _ := s.MarkOnce(ctx(t), "expiring:7d:c1", base); !first {
		t.Error("an old mark was kept")
	}
}

// testAuditHook: the audit hook runs in the transaction of the audit
// event, with its store; its error rolls back the event and the change
// beside it; without a transaction it gets one of its own.
func testAuditHook(t *testing.T, s store.Store) {
	mustOrg(t, s, "org_1", "Acme")
	var seen []string
	fail := errors.New("hook failed")
	s.HookAudit(func(c context.Context, tx *sql.Tx, st store.Store, e store.AuditEvent) error {
		if tx == nil {
			t.Error("the hook got no transaction")
		}
		seen = append(seen, e.Action)
		if e.Action == "refuse" {
			return fail
		}
		_, err := st.MarkOnce(c, "hooked:"+e.ID, e.At)
		return err
	})
	defer s.HookAudit(nil)
	if err := s.AppendAudit(ctx(t), store.AuditEvent{ID: "evt_1", At: base, OrgID: "org_1", Action: "plain"}); err != nil {
		t.Fatal(err)
	}
	err := s.InTx(ctx(t), func(tx store.Store) error {
		if _, err := tx.CreateCredential(ctx(t), credential("c_hook", "org_1", "hooked")); err != nil {
			return err
		}
		return tx.AppendAudit(ctx(t), store.AuditEvent{ID: "evt_2", At: base, OrgID: "org_1", Action: "refuse"})
	})
	if !errors.Is(err, fail) {
		t.Fatalf("InTx = %v, want the hook's error", err)
	}
	if _, err := s.GetCredential(ctx(t), "c_hook"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the change beside a refused audit event: %v, want rolled back", err)
	}
	events, _ := s.ListAudit(ctx(t), store.AuditFilter{})
	if len(events) != 1 || events[0].ID != "evt_1" {
		t.Errorf("audit = %+v, want evt_1 only", events)
	}
	if first, _ := s.MarkOnce(ctx(t), "hooked:evt_1", base); first {
		t.Error("the hook's write beside evt_1 is missing")
	}
	if !reflect.DeepEqual(seen, []string{"plain", "refuse"}) {
		t.Errorf("hook saw %v", seen)
	}
}
