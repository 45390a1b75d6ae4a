// Package bench measures Sapient against the machine it runs on. It starts
// the real server in-process on loopback, provisions credentials through
// the same code users go through, and drives keep-alive clients at the
// token endpoint and at /api/v1/me; beside them it measures floors, a bare
// net/http handler with and without one ES256 signature or verification
// per request, so that every figure comes with what the machine could do
// at all. Every run is bounded in time and in count and stops by itself.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"sapient.dev/sapient/internal/keys"
)

// Scenario names, in the order they run.
const (
	Token = "token"
	Me    = "me"
	// Check is GET /edge/check, as nginx's auth_request asks it, with a
	// token the server has seen: what protecting your own API costs.
	Check       = "check"
	MeCold      = "me-cold"
	Floor       = "floor"
	FloorSign   = "floor-sign"
	FloorVerify = "floor-verify"
	// TokenUnrecorded and MeUnrecorded are token and me with usage
	// recording turned off, to show what recording costs.
	TokenUnrecorded = "token-unrecorded"
	MeUnrecorded    = "me-unrecorded"
	// TokenThousand is token spread over the first 1,000 credentials
	// only: the 1,000-credential figure, measured in the same run as
	// token over many more, so that comparing the two is not comparing
	// two moments of a machine whose speed drifts. It runs by default
	// only when there are more than 1,000 credentials.
	TokenThousand = "token-1k"
	// Feed is not a load scenario: a bearer.Verifier follows the
	// revocation feed while credentials are revoked one after another;
	// it reports revocations delivered per second and the time from a
	// revocation to the verifier's refusal. It runs after the others.
	Feed = "feed"
)

// Scenarios lists every scenario in the order they run.
var Scenarios = []string{Token, Me, Check, MeCold, Floor, FloorSign, FloorVerify, TokenUnrecorded, MeUnrecorded, TokenThousand}

// thousand is the number of credentials token-1k spreads over.
const thousand = 1000

// Config describes a run.
type Config struct {
	// Scenarios to run; empty means all.
	Scenarios []string
	// Credentials to provision (default 1000).
	Credentials int
	// Concurrency is the number of keep-alive clients (default 64).
	Concurrency int
	// Duration of each scenario's measurement (default 10s), after a
	// warm-up of Warmup (default a tenth of Duration, at most 2s).
	Duration time.Duration
	Warmup   time.Duration
	// Rounds splits each scenario's Duration into this many slices, run
	// in turn with the other scenarios' (token, me, ..., floor-verify,
	// token, me, ...), so that whatever else the machine is doing weighs
	// on a scenario and its floor alike (default 5, fewer for a short
	// Duration: every slice lasts at least 200ms).
	Rounds int
	// Rate, when positive, is the fixed offered rate in requests per
	// second (open loop); otherwise every client sends its next request
	// when the last is answered (closed loop).
	Rate float64
	// UsedThisHour gives every credential a usage row for the current
	// hour before the server starts, as after a few minutes of traffic
	// that reached each of them: token then measures the steady state of
	// the hour, in which each request adds to its credential's row,
	// rather than its first minutes, in which each request makes one.
	UsedThisHour bool
	// DatabaseURL is an SQLite path or postgres:// URL of an empty
	// database; empty means a temporary SQLite database, removed after.
	DatabaseURL string
	// KEK protects the signing keys at rest; default one made from
	// SecretKey, or from a random secret.
	KEK       *keys.KEK
	SecretKey string
	// ProfileDir, when set, receives a CPU profile of each scenario's
	// measurement (NAME.cpu.pprof).
	ProfileDir string
	// Progress receives a progress line while the bench runs; nil for
	// none. ProgressTTY says it is a terminal, where the line is rewritten
	// in place; elsewhere a line is written per phase.
	Progress    io.Writer
	ProgressTTY bool
	// Logger receives the server's logs; default none.
	Logger *slog.Logger
}

// Maximum values accepted, so that a run stays bounded.
const (
	MaxCredentials = 10_000_000
	MaxConcurrency = 4096
	MaxDuration    = 10 * time.Minute
	MaxRate        = 1_000_000
)

func (c *Config) defaults() error {
	if c.Credentials == 0 {
		c.Credentials = thousand
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = slices.Clone(Scenarios)
		if c.Credentials <= thousand {
			c.Scenarios = c.Scenarios[:len(Scenarios)-1] // token-1k would be token again
		}
		c.Scenarios = append(c.Scenarios, Feed)
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios, s) && s != Feed {
			return fmt.Errorf("bench: unknown scenario %q (use %s or %s)", s, strings.Join(Scenarios, ", "), Feed)
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Rounds == 0 {
		c.Rounds = max(1, min(5, int(c.Duration/(200*time.Millisecond))))
	}
	if c.Warmup == 0 {
		c.Warmup = min(c.Duration/10, 2*time.Second)
	}
	switch {
	case c.Credentials < 1 || c.Credentials > MaxCredentials:
		return fmt.Errorf("bench: --credentials must be between 1 and %d", MaxCredentials)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("bench: --concurrency must be between 1 and %d", MaxConcurrency)
	case c.Duration < 100*time.Millisecond || c.Duration > MaxDuration:
		return fmt.Errorf("bench: --duration must be between 100ms and %s", MaxDuration)
	case c.Warmup < 0 || c.Warmup > MaxDuration:
		return fmt.Errorf("bench: warm-up must be between 0 and %s", MaxDuration)
	case c.Rounds < 1 || c.Rounds > 100:
		return errors.New("bench: rounds must be between 1 and 100")
	case c.Rate < 0 || c.Rate > MaxRate:
		return fmt.Errorf("bench: --rate must be between 0 and %d", MaxRate)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Result is one scenario's measurement.
type Result struct {
	Name              string  `json:"name"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	P50ms             float64 `json:"p50_ms"`
	P99ms             float64 `json:"p99_ms"`
	Errors            int64   `json:"errors"`
	AllocsPerRequest  float64 `json:"allocs_per_request"`
	PeakRSSMB         float64 `json:"peak_rss_mb"`
	// Ratios compares a server scenario with its floor ("token/floor-sign",
	// "me/floor", "me-cold/floor-verify"); empty for the floors.
	Ratios map[string]Ratio `json:"ratios"`

	// CPUus is the CPU time the whole process (server and load
	// generator) used per request, in microseconds: unlike requests per
	// second it does not depend on what else the machine is doing.
	CPUus       float64 `json:"cpu_us_per_request"`
	Requests    int64   `json:"requests"`
	Seconds     float64 `json:"seconds"`
	P90ms       float64 `json:"p90_ms"`
	P999ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	OfferedRate float64 `json:"offered_rate,omitempty"`
	Concurrency int     `json:"concurrency"`
	Credentials int     `json:"credentials"`
	FirstError  string  `json:"first_error,omitempty"`
}

// Ratio is a scenario's throughput over its floor's, and the target it
// is held to.
type Ratio struct {
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
}

// ratioTargets are the throughput targets, against the floor measured in
// the same run.
var ratioTargets = []struct {
	scenario, floor string
	target          float64
}{
	{Token, FloorSign, 0.75},
	{Me, Floor, 0.8},
	{Check, Floor, 0.8},
	{MeCold, FloorVerify, 0.8},
	// Usage recording on against off (issue 4): at least 95%.
	{Token, TokenUnrecorded, 0.95},
	{Me, MeUnrecorded, 0.95},
	// Token over every credential against over 1,000 of them: within 10%.
	{Token, TokenThousand, 0.9},
}

// Report is the outcome of a run.
type Report struct {
	Results       []Result
	Credentials   int
	ProvisionPath string        // "service" or "bulk"
	Provision     time.Duration // time to provision the credentials
	Ready         time.Duration // from opening the database to the first 200 from /readyz
	InMemory      time.Duration // from opening the database to every credential read into memory
	UsedThisHour  time.Duration // time to write this hour's usage rows (Config.UsedThisHour)
	Database      string        // "sqlite" or "postgres"
	CPUs          int
	Config        Config      // the configuration, defaults applied
	Feed          *FeedResult // when the feed measurement ran
}

// Errors is the number of failed requests over every scenario.
func (r *Report) Errors() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

// Run provisions, starts the server and measures every scenario of cfg in
// turn.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	env, err := setUp(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer env.close()
	rep := &Report{
		Credentials: cfg.Credentials, ProvisionPath: env.prov.path, Provision: env.prov.took,
		Ready: env.ready, InMemory: env.loaded, UsedThisHour: env.used, Database: env.dbKind, CPUs: runtime.GOMAXPROCS(0), Config: cfg,
	}
	var preps []*prepared
	defer func() {
		for _, p := range preps {
			p.close()
		}
	}()
	for _, name := range Scenarios {
		if !slices.Contains(cfg.Scenarios, name) {
			continue
		}
		p, err := env.prepare(ctx, name)
		if err != nil {
			return nil, err
		}
		preps = append(preps, p)
	}
	for round := range cfg.Rounds {
		for _, p := range preps {
			if err := env.slice(ctx, p, round); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range preps {
		rep.Results = append(rep.Results, env.result(p))
	}
	if slices.Contains(cfg.Scenarios, Feed) {
		if rep.Feed, err = env.measureFeed(ctx); err != nil {
			return nil, err
		}
	}
	for _, t := range ratioTargets {
		i := slices.IndexFunc(rep.Results, func(r Result) bool { return r.Name == t.scenario })
		j := slices.IndexFunc(rep.Results, func(r Result) bool { return r.Name == t.floor })
		if i < 0 || j < 0 || rep.Results[j].RequestsPerSecond == 0 {
			continue
		}
		v := rep.Results[i].RequestsPerSecond / rep.Results[j].RequestsPerSecond
		rep.Results[i].Ratios[t.scenario+"/"+t.floor] = Ratio{Value: round(v, 3), Target: t.target, Met: v >= t.target}
	}
	return rep, nil
}

// slice runs one round of a scenario: its warm-up the first time, then a
// measured phase of Duration/Rounds, added to what it measured before.
func (e *env) slice(ctx context.Context, p *prepared, round int) error {
	l := p.load
	l.concurrency, l.rate, l.progress, l.tty = e.cfg.Concurrency, e.cfg.Rate, e.cfg.Progress, e.cfg.ProgressTTY
	if !p.warm && e.cfg.Warmup > 0 {
		l.duration, l.label = e.cfg.Warmup, p.name+" (warm-up)"
		if err := p.before(ctx, l.duration); err != nil {
			return err
		}
		ph := l.run(ctx, p.workers)
		p.after()
		if ph.errors > 0 && ph.requests == ph.errors {
			return fmt.Errorf("bench: %s: every warm-up request failed: %v", p.name, ph.firstErr)
		}
	}
	p.warm = true
	l.duration = e.cfg.Duration / time.Duration(e.cfg.Rounds)
	l.label = p.name
	if e.cfg.Rounds > 1 {
		l.label = fmt.Sprintf("%s (%d/%d)", p.name, round+1, e.cfg.Rounds)
	}
	if err := p.before(ctx, l.duration); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rss := startRSS()
	var prof *os.File
	if e.cfg.ProfileDir != "" {
		file := p.name + ".cpu.pprof"
		if e.cfg.Rounds > 1 {
			file = fmt.Sprintf("%s.%d.cpu.pprof", p.name, round+1)
		}
		f, err := os.Create(filepath.Join(e.cfg.ProfileDir, file))
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("bench: %w", err)
		}
		prof = f
	}
	// Each slice pays for writing the usage it records, and only that: what
	// the warm-up or the scenario before recorded is written first, and
	// this slice's usage within it. Otherwise a fold (at most every 30
	// seconds, see store.SQL.AddUsage) would charge whichever slice runs
	// when it comes. A slice shorter than that folds fewer rows at a time,
	// which costs more per row: the figure errs on the slow side.
	if err := e.writeUsage(ctx); err != nil {
		return err
	}
	a0, c0 := allocs(), cpuTime()
	ph := l.run(ctx, p.workers)
	t0 := time.Now()
	writeErr := e.writeUsage(ctx)
	ph.elapsed += time.Since(t0)
	a1, c1 := allocs(), cpuTime()
	p.cpu += c1 - c0
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	p.after()
	// The scenarios that wait their turn hold no connections, on either
	// side: the next slice dials again.
	closeWorkers(p.workers)
	if writeErr != nil {
		return writeErr
	}
	p.peakRSS = max(p.peakRSS, rss.peakMB())
	p.allocs += a1 - a0
	t := &p.total
	t.hist.merge(&ph.hist)
	t.requests += ph.requests
	t.errors += ph.errors
	t.elapsed += ph.elapsed
	if t.firstErr == nil {
		t.firstErr = ph.firstErr
	}
	return ctx.Err()
}

// writeUsage writes the usage recorded so far and folds it into its
// hourly rows.
func (e *env) writeUsage(ctx context.Context) error {
	if err := e.srv.Usage.Flush(ctx); err != nil {
		return fmt.Errorf("bench: write usage: %w", err)
	}
	if err := e.st.FoldUsage(ctx); err != nil {
		return fmt.Errorf("bench: write usage: %w", err)
	}
	return nil
}

// result summarises what a scenario measured over its rounds.
func (e *env) result(p *prepared) Result {
	t := &p.total
	ms := func(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }
	res := Result{
		Name: p.name, Errors: t.errors, PeakRSSMB: round(p.peakRSS, 1), Ratios: map[string]Ratio{},
		Requests: t.requests, Seconds: round(t.elapsed.Seconds(), 3),
		P50ms: ms(t.hist.quantile(0.50)), P90ms: ms(t.hist.quantile(0.90)), P99ms: ms(t.hist.quantile(0.99)),
		P999ms: ms(t.hist.quantile(0.999)), MaxMs: ms(t.hist.max),
		OfferedRate: e.cfg.Rate, Concurrency: e.cfg.Concurrency, Credentials: e.cfg.Credentials,
		FirstError: p.note(),
	}
	if t.requests > 0 {
		res.RequestsPerSecond = round(float64(t.requests)/t.elapsed.Seconds(), 1)
		res.AllocsPerRequest = round(float64(p.allocs)/float64(t.requests), 1)
		res.CPUus = round(float64(p.cpu)/float64(time.Microsecond)/float64(t.requests), 1)
	}
	if t.firstErr != nil {
		res.FirstError = t.firstErr.Error()
	}
	return res
}

func round(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// randomRunID names this run's organisations.
func randomRunID() string { return strings.ToLower(rand.Text()[:6]) }
