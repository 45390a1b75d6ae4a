package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable prints the report for people: the setting, one line per
// scenario, and the ratios against the floors with their targets.
func (r *Report) WriteTable(w io.Writer) error {
	cfg := r.Config
	mode := "closed loop"
	if cfg.Rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f req/s", cfg.Rate)
	}
	fmt.Fprintf(w, "sapient bench: %d CPUs, %s, %d credentials (%s, provisioned in %s), ready in %s, credentials in memory in %s\n",
		r.CPUs, r.Database, r.Credentials, r.ProvisionPath, r.Provision.Round(10*time.Millisecond),
		r.Ready.Round(time.Millisecond), r.InMemory.Round(time.Millisecond))
	if cfg.UsedThisHour {
		fmt.Fprintf(w, "every credential used this hour before measuring (usage rows written in %s)\n", r.UsedThisHour.Round(10*time.Millisecond))
	}
	fmt.Fprintf(w, "%d keep-alive clients, %s per scenario in %d interleaved rounds, %s\n\n", cfg.Concurrency, cfg.Duration, cfg.Rounds, mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\tallocs/req\tpeak RSS MB\tCPU µs/req\t")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%.3f\t%d\t%.1f\t%.1f\t%.1f\t\n", res.Name, res.RequestsPerSecond,
			res.P50ms, res.P99ms, res.MaxMs, res.Errors, res.AllocsPerRequest, res.PeakRSSMB, res.CPUus)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	first := true
	for _, t := range ratioTargets {
		for _, res := range r.Results {
			ratio, ok := res.Ratios[t.scenario+"/"+t.floor]
			if !ok {
				continue
			}
			if first {
				fmt.Fprintln(w, "\nratios (throughput against the floor measured in this run)")
				first = false
			}
			verdict := "met"
			if !ratio.Met {
				verdict = "NOT met"
			}
			fmt.Fprintf(w, "  %-22s %5.2f  target >= %.2f  %s\n", t.scenario+"/"+t.floor, ratio.Value, ratio.Target, verdict)
		}
	}
	if f := r.Feed; f != nil {
		fmt.Fprintf(w, "\nrevocation feed: %d revocations delivered to a bearer.Verifier at %.0f/s; revoke to refusal p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d never refused\n",
			f.Revocations, f.Delivered, f.P50ms, f.P99ms, f.MaxMs, f.Errors)
	}
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(w, "\n%s: %s\n", res.Name, res.FirstError)
		}
	}
	return nil
}

// WriteJSON prints the results as a JSON array, one object per scenario.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	results := r.Results
	if results == nil {
		results = []Result{}
	}
	return enc.Encode(results)
}

// status writes what the bench is busy with: on a terminal over the
// previous status, elsewhere one line at a time, and only when worth a
// line (every is true).
type status struct {
	w   io.Writer
	tty bool
}

func (s status) show(every bool, format string, args ...any) {
	switch {
	case s.w == nil:
	case s.tty:
		fmt.Fprintf(s.w, "\r  "+format+"   ", args...)
	case every:
		fmt.Fprintf(s.w, "  "+format+"\n", args...)
	}
}

// clear removes the status line from a terminal.
func (s status) clear() {
	if s.w != nil && s.tty {
		fmt.Fprintf(s.w, "\r%100s\r", "")
	}
}
