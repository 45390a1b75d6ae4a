package webhook

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// Expiry warnings are sent this long before a credential expires.
var expiryWarnings = []struct {
	before time.Duration
	label  string
}{
	{24 * time.Hour, "1 day"},
	{7 * 24 * time.Hour, "7 days"},
}

// expiredLookback bounds how long after its expiry a credential's expired
// event is still sent (an instance that was down meanwhile).
const expiredLookback = 7 * 24 * time.Hour

type expiryWorker struct {
	river.WorkerDefaults[ExpiryScanArgs]
	q *Queue
}

// DeliveryRetention is how long settled deliveries are kept for the
// console. Marks are kept as long: an expiry mark is older than the
// expired lookback by then, so pruning it sends nothing twice.
const DeliveryRetention = 30 * 24 * time.Hour

// Work runs the scan and prunes old deliveries; River runs the periodic
// job on its leader only.
func (w *expiryWorker) Work(ctx context.Context, job *river.Job[ExpiryScanArgs]) error {
	now := w.q.now()
	if _, err := w.q.ScanExpiry(ctx, now); err != nil {
		return err
	}
	_, err := w.q.cfg.Store.PruneWebhookDeliveries(ctx, now.Add(-DeliveryRetention))
	return err
}

// ScanExpiry finds the credentials that expire within 7 days, within a
// day, or have expired, and audits each of these once
// (credential.expiring, credential.expired), which sends their events. A
// mark in the same transaction makes each sent once, whichever instance
// scans. It reports how many it audited.
func (q *Queue) ScanExpiry(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC().Truncate(time.Microsecond)
	s := q.cfg.Store
	soon, err := s.ListExpiringCredentials(ctx, now.Add(-expiredLookback), now.Add(expiryWarnings[len(expiryWarnings)-1].before))
	if err != nil {
		return 0, fmt.Errorf("webhook: expiry scan: %w", err)
	}
	n := 0
	for _, c := range soon {
		exp := strconv.FormatInt(c.ExpiresAt.UnixMicro(), 10)
		var mark, action, detail string
		if !now.Before(c.ExpiresAt) {
			mark, action, detail = "expired:"+c.ClientID+":"+exp, ActionCredentialExpired, fmt.Sprintf("name %q expired at %s", c.Name, c.ExpiresAt.UTC().Format(time.RFC3339))
		} else {
			for _, w := range expiryWarnings {
				if c.ExpiresAt.Sub(now) <= w.before {
					mark = "expiring:" + w.label + ":" + c.ClientID + ":" + exp
					action, detail = ActionCredentialExpiring, fmt.Sprintf("name %q expires within %s, at %s", c.Name, w.label, c.ExpiresAt.UTC().Format(time.RFC3339))
					break
				}
			}
		}
		sent := false
		err := s.InTx(ctx, func(tx store.Store) error {
			first, err := tx.MarkOnce(ctx, mark, now)
			if err != nil || !first {
				return err
			}
			sent = true
			return audit.Write(ctx, tx, access.System, action, c.OrgID, c.ClientID, detail, now)
		})
		if err != nil {
			return n, fmt.Errorf("webhook: expiry scan: %w", err)
		}
		if sent {
			n++
		}
	}
	return n, nil
}

// ExpiresSoon reports whether a credential active at now expires within 7
// days: the console flags it.
func ExpiresSoon(c store.Credential, now time.Time) bool {
	return c.RevokedAt.IsZero() && !c.ExpiresAt.IsZero() && now.Before(c.ExpiresAt) &&
		c.ExpiresAt.Sub(now) <= expiryWarnings[len(expiryWarnings)-1].before
}
