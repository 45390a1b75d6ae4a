package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/name"
	"sapient.dev/sapient/internal/store"
)

// queueName is the River queue deliveries run in.
const queueName = "webhooks"

// Retry schedule defaults: attempt n waits RetryBase·2ⁿ⁻¹, at most
// RetryCap, for MaxAttempts attempts. With 30 s, 8 h and 20 attempts a
// delivery is tried for about 3 days and 8 hours (the specification's
// providers retry for a day or more), and an endpoint whose every attempt
// failed for DisableAfter (3 days) is disabled before its oldest
// delivery gives up.
const (
	DefaultRetryBase    = 30 * time.Second
	DefaultRetryCap     = 8 * time.Hour
	DefaultMaxAttempts  = 20
	DefaultDisableAfter = 72 * time.Hour
)

// Options tune the queue; zero values take the defaults.
type Options struct {
	// AllowPrivate permits http and loopback or private targets
	// (--webhooks-allow-private).
	AllowPrivate bool
	RetryBase    time.Duration
	RetryCap     time.Duration
	MaxAttempts  int
	DisableAfter time.Duration
	// PollInterval is how often the queue looks for jobs; default 1 s.
	PollInterval time.Duration
	// Workers is how many deliveries run at once; default 8.
	Workers int
}

// QueueConfig is what a Queue needs.
type QueueConfig struct {
	Store   store.Store
	KEK     *keys.KEK
	Logger  *slog.Logger
	Now     func() time.Time
	Options Options
	// Work makes the queue deliver (the server); without it, it only
	// enqueues (the CLI).
	Work bool
}

// Queue enqueues events in the transaction of the change they report,
// and, when working, delivers them.
type Queue struct {
	cfg    QueueConfig
	opt    Options
	log    *slog.Logger
	client *river.Client[*sql.Tx]
	http   *http.Client
}

// DeliverArgs is the job of one delivery attempt.
type DeliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind names the job in River's tables.
func (DeliverArgs) Kind() string { return "webhook_delivery" }

// ExpiryScanArgs is the periodic job that finds expiring and expired
// credentials.
type ExpiryScanArgs struct{}

// Kind names the job in River's tables.
func (ExpiryScanArgs) Kind() string { return "webhook_expiry_scan" }

// NewQueue builds the queue and hooks it on the store's audit trail.
func NewQueue(cfg QueueConfig) (*Queue, error) {
	o := cfg.Options
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryCap <= 0 {
		o.RetryCap = DefaultRetryCap
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.DisableAfter <= 0 {
		o.DisableAfter = DefaultDisableAfter
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	q := &Queue{cfg: cfg, opt: o, log: cfg.Logger, http: newHTTPClient(o.AllowPrivate)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &deliverWorker{q: q})
	river.AddWorker(workers, &expiryWorker{q: q})
	rc := &river.Config{
		Workers:           workers,
		MaxAttempts:       o.MaxAttempts,
		RetryPolicy:       q,
		FetchPollInterval: o.PollInterval,
		FetchCooldown:     min(o.PollInterval, 100*time.Millisecond),
		JobTimeout:        attemptTimeout + 20*time.Second,
		// A delivery whose instance died mid-attempt (kill -9) is
		// "running" until rescued: try it again soon after its timeout.
		RescueStuckJobsAfter: 2 * time.Minute,
		// Both databases look for new jobs every PollInterval. River's
		// driver for PostgreSQL over database/sql has no listener; its
		// SQLite driver's listener is a query of a notification table every
		// 50 ms, which was half the CPU of an idle instance.
		PollOnly: true,
		// River's own logs are about its machinery; only its warnings
		// matter here.
		Logger: slog.New(levelAtLeast{cfg.Logger.Handler(), slog.LevelWarn}),
	}
	if cfg.Work {
		rc.Queues = map[string]river.QueueConfig{queueName: {MaxWorkers: o.Workers}}
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) {
				return ExpiryScanArgs{}, &river.InsertOpts{Queue: queueName, MaxAttempts: 1}
			}, &river.PeriodicJobOpts{RunOnStart: true})}
	}
	client, err := river.NewClient(cfg.Store.QueueDriver(), rc)
	if err != nil {
		return nil, fmt.Errorf("webhook: queue: %w", err)
	}
	q.client = client
	cfg.Store.HookAudit(q.onAudit)
	return q, nil
}

// Start begins delivering (a working queue only).
func (q *Queue) Start(ctx context.Context) error {
	if !q.cfg.Work {
		return nil
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("webhook: queue: %w", err)
	}
	return nil
}

// Stop ends delivering, waiting for attempts under way. The queue stays
// hooked on the store: events are still enqueued, for whichever instance
// delivers next.
func (q *Queue) Stop(ctx context.Context) error {
	if !q.cfg.Work {
		return nil
	}
	if err := q.client.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("webhook: queue: %w", err)
	}
	return nil
}

func (q *Queue) now() time.Time { return q.cfg.Now().UTC().Truncate(time.Microsecond) }

// NextRetry is the retry policy: exponential backoff from RetryBase,
// capped at RetryCap (see the defaults), counted from now on River's own
// clock. River refuses a retry time before its own "now" and falls back
// to its default policy (attempt⁴ seconds), so the backoff cannot be
// counted from when the attempt began: an attempt slower than the backoff
// would otherwise be retried on River's schedule instead of this one.
func (q *Queue) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(q.backoff(len(job.Errors)))
}

// backoff is the wait after a failed attempt, given the number of
// attempts that failed before it.
func (q *Queue) backoff(failedBefore int) time.Duration {
	d := q.opt.RetryBase
	for i := 0; i < failedBefore && d < q.opt.RetryCap; i++ {
		d *= 2
	}
	return min(d, q.opt.RetryCap)
}

// onAudit is the store's audit hook: it enqueues the event an audit event
// reports for every endpoint that wants it, in the audit event's
// transaction.
func (q *Queue) onAudit(ctx context.Context, tx *sql.Tx, s store.Store, e store.AuditEvent) error {
	if e.Action == ActionDeliveryResent {
		return q.resend(ctx, tx, s, e.Target)
	}
	typ, ok := eventOf[e.Action]
	if !ok {
		return nil
	}
	if typ == CredentialRateLimited {
		// At most one event per credential per hour, whatever the number
		// of instances auditing refusals.
		due, err := s.MarkEvery(ctx, "rate_limited:"+e.Target, e.At, time.Hour)
		if err != nil || !due {
			return err
		}
	}
	orgs := []string{""}
	if e.OrgID != "" {
		orgs = append(orgs, e.OrgID)
	}
	endpoints, err := s.ListWebhookEndpoints(ctx, orgs...)
	if err != nil {
		return err
	}
	var body []byte
	for _, ep := range endpoints {
		if !ep.DisabledAt.IsZero() || !slices.Contains(ep.Events, typ) {
			continue
		}
		if body == nil {
			if body, err = payload(ctx, s, typ, e); err != nil {
				return err
			}
		}
		d := store.WebhookDelivery{
			ID: "msg_" + rand.Text(), EndpointID: ep.ID, OrgID: ep.OrgID, EventType: typ, Payload: body,
			CreatedAt: e.At, Status: store.DeliveryPending,
		}
		if err := s.CreateWebhookDelivery(ctx, d); err != nil {
			return err
		}
		if _, err := q.client.InsertTx(ctx, tx, DeliverArgs{DeliveryID: d.ID}, &river.InsertOpts{Queue: queueName}); err != nil {
			return fmt.Errorf("webhook: enqueue: %w", err)
		}
	}
	return nil
}

// resend queues a delivery once more.
func (q *Queue) resend(ctx context.Context, tx *sql.Tx, s store.Store, id string) error {
	if _, err := s.UpdateWebhookDelivery(ctx, id, func(d store.WebhookDelivery) (store.WebhookDelivery, error) {
		d.Status = store.DeliveryPending
		return d, nil
	}); err != nil {
		return err
	}
	if _, err := q.client.InsertTx(ctx, tx, DeliverArgs{DeliveryID: id}, &river.InsertOpts{Queue: queueName}); err != nil {
		return fmt.Errorf("webhook: enqueue: %w", err)
	}
	return nil
}

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	q *Queue
}

// Work makes one attempt; its error makes River retry (NextRetry).
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.q.attempt(ctx, job.Args.DeliveryID, job.Attempt >= job.MaxAttempts)
}

// attempt sends a delivery once and records what came of it.
func (q *Queue) attempt(ctx context.Context, id string, last bool) error {
	s := q.cfg.Store
	d, err := s.GetWebhookDelivery(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(errors.New("delivery deleted with its endpoint"))
	} else if err != nil {
		return err
	}
	ep, err := s.GetWebhookEndpoint(ctx, d.EndpointID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(errors.New("endpoint deleted"))
	} else if err != nil {
		return err
	}
	if !ep.DisabledAt.IsZero() {
		q.record(ctx, d.ID, func(d *store.WebhookDelivery) {
			d.Status, d.LastError = store.DeliveryFailed, "endpoint disabled"
		})
		return river.JobCancel(errors.New("endpoint disabled"))
	}
	secret, err := q.cfg.KEK.Open(ep.SecretSealed, secretLabel(ep.ID))
	if err != nil {
		return river.JobCancel(fmt.Errorf("webhook: endpoint %s: %w", ep.ID, err))
	}
	start := time.Now()
	code, sendErr := q.send(ctx, ep.URL, string(secret), d)
	latency := time.Since(start)
	at := q.now()
	q.record(ctx, d.ID, func(d *store.WebhookDelivery) {
		d.Attempts++
		d.ResponseCode, d.LatencyMS, d.LastAttemptAt, d.LastError = code, latency.Milliseconds(), at, ""
		switch {
		case sendErr == nil:
			d.Status = store.DeliveryDelivered
		case last:
			d.Status, d.LastError = store.DeliveryFailed, name.Truncate(sendErr.Error(), 300)
		default:
			d.Status, d.LastError = store.DeliveryPending, name.Truncate(sendErr.Error(), 300)
		}
	})
	q.endpointOutcome(ctx, ep.ID, sendErr == nil, at)
	if sendErr != nil {
		q.log.Info("webhook delivery failed", "endpoint", ep.ID, "delivery", d.ID, "status", code, "err", sendErr)
	}
	return sendErr
}

// send posts the delivery's body, signed, and reports the answer's status
// code; an error unless it is 2xx.
func (q *Queue) send(ctx context.Context, url, secret string, d store.WebhookDelivery) (int, error) {
	ts := q.cfg.Now()
	sig, err := Sign(secret, d.ID, ts, d.Payload)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Sapient-Webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := q.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("webhook: the endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// record writes an attempt's outcome; a failure to do so is logged, not
// retried: the attempt happened.
func (q *Queue) record(ctx context.Context, id string, change func(*store.WebhookDelivery)) {
	_, err := q.cfg.Store.UpdateWebhookDelivery(ctx, id, func(d store.WebhookDelivery) (store.WebhookDelivery, error) {
		change(&d)
		return d, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		q.log.Warn("recording a webhook attempt failed", "delivery", id, "err", err)
	}
}

// endpointOutcome keeps track of an endpoint's failures: a success forgets
// them; an endpoint whose every attempt has failed for DisableAfter is
// disabled, and its organisation told through the audit trail (the
// console shows it disabled, with the reason).
func (q *Queue) endpointOutcome(ctx context.Context, id string, ok bool, at time.Time) {
	err := q.cfg.Store.InTx(ctx, func(tx store.Store) error {
		disabled := false
		ep, err := tx.UpdateWebhookEndpoint(ctx, id, func(e store.WebhookEndpoint) (store.WebhookEndpoint, error) {
			switch {
			case ok:
				e.FailingSince = time.Time{}
			case e.FailingSince.IsZero():
				e.FailingSince = at
			case e.DisabledAt.IsZero() && at.Sub(e.FailingSince) >= q.opt.DisableAfter:
				e.DisabledAt, disabled = at, true
				e.DisabledReason = fmt.Sprintf("every delivery failed since %s", e.FailingSince.Format(time.RFC3339))
				e.UpdatedAt = at
			}
			return e, nil
		})
		if err != nil || !disabled {
			return err
		}
		return audit.Write(ctx, tx, access.System, ActionEndpointDisabled, ep.OrgID, ep.ID,
			fmt.Sprintf("webhook endpoint %s disabled: %s", ep.URL, ep.DisabledReason), at)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		q.log.Warn("recording a webhook endpoint's outcome failed", "endpoint", id, "err", err)
	}
}

// levelAtLeast passes on records at or above a level.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(as), h.min}
}

func (h levelAtLeast) WithGroup(name string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(name), h.min}
}
