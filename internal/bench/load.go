package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one load-generating client: a keep-alive connection, a buffer
// to build requests in and its own random numbers. Its latencies go to a
// histogram of the phase (see load.run).
type worker struct {
	id   int
	c    *conn
	buf  []byte
	rng  *rand.Rand
	n    int64 // requests recorded
	errs int64 // errors recorded
	err  error // the first error, for the report
}

// load is one measured phase of a scenario.
type load struct {
	addr        string
	concurrency int
	duration    time.Duration
	rate        float64 // requests per second offered; 0 means closed loop
	want        int     // expected status
	// next builds worker w's next request into w.buf, or returns nil when
	// the scenario has nothing more to send (a pool ran out).
	next func(w *worker) []byte

	progress io.Writer
	tty      bool // progress is a terminal: rewrite one line in place
	label    string
}

// phase is what a load measured.
type phase struct {
	hist     histogram
	requests int64
	errors   int64
	elapsed  time.Duration
	firstErr error
}

// run drives the load on workers, which keep their connections between
// phases (warm-up, then measurement). Closed loop: each worker sends its
// next request when the last one is answered. Open loop (rate > 0): request
// k is due at start + k/rate whatever happened before, and its latency is
// counted from that moment, so that a server stall shows in the latency of
// every request that should have been sent during it instead of being
// hidden by clients that waited (coordinated omission).
//
// Each worker records into a histogram of its own (64 KB), held only for
// the phase: kept with the workers, the histograms of every scenario would
// add tens of megabytes to the peak RSS the bench reports.
func (l *load) run(ctx context.Context, workers []*worker) phase {
	for _, w := range workers {
		w.n, w.errs, w.err = 0, 0, nil
	}
	hists := make([]histogram, len(workers))
	var (
		wg       sync.WaitGroup
		done     atomic.Int64
		failed   atomic.Int64
		seq      atomic.Int64
		start    = time.Now()
		deadline = start.Add(l.duration)
		interval time.Duration
	)
	if l.rate > 0 {
		interval = time.Duration(float64(time.Second) / l.rate)
	}
	stopProgress := l.showProgress(start, &done, &failed)
	for i, w := range workers {
		hist := &hists[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var due time.Time
				if interval > 0 {
					due = start.Add(time.Duration(seq.Add(1)-1) * interval)
					if !due.Before(deadline) {
						return
					}
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				req := l.next(w)
				if req == nil {
					return
				}
				sent := time.Now()
				if interval == 0 {
					due = sent
				}
				status, err := w.c.do(req)
				hist.record(time.Since(due))
				w.n++
				done.Add(1)
				if err == nil && status != l.want {
					err = fmt.Errorf("status %d, want %d", status, l.want)
				}
				if err != nil {
					w.errs++
					failed.Add(1)
					if w.err == nil {
						w.err = err
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	var p phase
	p.elapsed = elapsed
	if l.rate > 0 && elapsed < l.duration {
		p.elapsed = l.duration
	}
	for i, w := range workers {
		p.hist.merge(&hists[i])
		p.requests += w.n
		p.errors += w.errs
		if p.firstErr == nil {
			p.firstErr = w.err
		}
	}
	return p
}

// showProgress keeps the user informed: on a terminal one line rewritten
// twice a second, elsewhere (a CI log) one line per phase when it ends.
func (l *load) showProgress(start time.Time, done, failed *atomic.Int64) func() {
	if l.progress == nil {
		return func() {}
	}
	if !l.tty {
		return func() {
			n, secs := done.Load(), time.Since(start).Seconds()
			fmt.Fprintf(l.progress, "  %-22s %6.1fs %9.0f req/s %9d requests  %d errors\n", l.label, secs, float64(n)/secs, n, failed.Load())
		}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		var lastN int64
		last := start
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				n := done.Load()
				rps := float64(n-lastN) / now.Sub(last).Seconds()
				lastN, last = n, now
				fmt.Fprintf(l.progress, "\r  %-22s %5.1fs / %-5s %9.0f req/s  %9d requests  %d errors   ",
					l.label, now.Sub(start).Seconds(), l.duration, rps, n, failed.Load())
			}
		}
	}()
	return func() {
		close(stop)
		<-finished
		fmt.Fprintf(l.progress, "\r%100s\r", "")
	}
}

func newWorkers(addr string, n int) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = &worker{
			id:  i,
			c:   newConn(addr),
			buf: make([]byte, 0, 2048),
			rng: rand.New(rand.NewPCG(rand.Uint64(), uint64(i))),
		}
	}
	return ws
}

func closeWorkers(ws []*worker) {
	for _, w := range ws {
		w.c.close()
	}
}
