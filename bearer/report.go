package bearer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Bounds on usage reporting.
const (
	reportEvery    = time.Second
	maxReportKeys  = 10_000 // distinct (credential, route, outcome) waiting; more are dropped
	reportTimeout  = 10 * time.Second
	maxReportReply = 64 << 10
)

type reportKey struct{ clientID, route, outcome string }

// reporter gathers the calls Require saw and sends them to Sapient, one
// batch at a time; a batch that cannot be sent is kept for the next.
type reporter struct {
	url      string
	client   *http.Client
	mu       sync.Mutex
	counts   map[reportKey]int64
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// report counts one call, when usage reporting is on.
func (v *Verifier) report(clientID, route, outcome string) {
	if v.reports == nil {
		return
	}
	r := v.reports
	k := reportKey{clientID, route, outcome}
	r.mu.Lock()
	if _, ok := r.counts[k]; ok || len(r.counts) < maxReportKeys {
		r.counts[k]++
	}
	r.mu.Unlock()
}

func (v *Verifier) startReports() {
	r := &reporter{url: v.cfg.Issuer + "/edge/usage", client: v.feed.client, counts: map[reportKey]int64{},
		stop: make(chan struct{}), done: make(chan struct{})}
	v.reports = r
	go func() {
		defer close(r.done)
		t := time.NewTicker(reportEvery)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				r.send() // the last batch
				return
			case <-t.C:
				r.send()
			}
		}
	}()
}

// send posts what was gathered; on failure it is counted again next time.
func (r *reporter) send() {
	r.mu.Lock()
	taken := r.counts
	r.counts = map[reportKey]int64{}
	r.mu.Unlock()
	if len(taken) == 0 {
		return
	}
	type entry struct {
		ClientID string `json:"client_id"`
		Route    string `json:"route"`
		Outcome  string `json:"outcome"`
		Count    int64  `json:"count"`
	}
	body := struct {
		Calls []entry `json:"calls"`
	}{}
	for k, n := range taken {
		body.Calls = append(body.Calls, entry{k.clientID, k.route, k.outcome, n})
	}
	err := r.post(body)
	if err == nil {
		return
	}
	r.mu.Lock()
	for k, n := range taken {
		if _, ok := r.counts[k]; ok || len(r.counts) < maxReportKeys {
			r.counts[k] += n
		}
	}
	r.mu.Unlock()
}

func (r *reporter) post(body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := readBody(resp.Body, maxReportReply)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("bearer: usage report: %s: %.200s", resp.Status, reply)
	}
	return nil
}
