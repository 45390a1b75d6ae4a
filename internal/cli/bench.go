package cli

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/bench"
	"sapient.dev/sapient/internal/store"
)

func (a *app) benchCmd() *cobra.Command {
	var (
		cfg       bench.Config
		scenarios string
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure the token endpoint and /api/v1/me against this machine's floor",
		Long: `Measure Sapient on this machine. The bench starts the real server in-process
on 127.0.0.1 with a temporary SQLite database (or --database postgres://... of an
empty database), provisions --credentials credentials, and drives --concurrency
keep-alive clients for --duration per scenario, after a short warm-up:

  token         POST /connect/token, client_secret_basic, over all credentials
  me            GET /api/v1/me, each client reusing its token
  me-cold       GET /api/v1/me with a token the server has never seen
  floor         a bare net/http handler answering a body of the same size
  floor-sign    the same, signing one ES256 JWT per request
  floor-verify  the same, verifying one ES256 JWT per request
  token-unrecorded, me-unrecorded
                token and me with usage recording off
  token-1k      token over the first 1,000 credentials only (by default
                only with more than 1,000 credentials)

It prints requests per second, latency percentiles, errors, allocations per
request (of the whole process, load generator included) and peak RSS, and the
ratios token/floor-sign, me/floor, me-cold/floor-verify, token and me with
usage recording on over off, and token over token-1k. With --rate the
clients offer a fixed rate (open loop) and latency counts from the moment each
request was due. The exit status is non-zero if any request failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if scenarios != "" && scenarios != "all" {
				for _, s := range strings.Split(scenarios, ",") {
					if s = strings.TrimSpace(s); s != "" {
						cfg.Scenarios = append(cfg.Scenarios, s)
					}
				}
			}
			// Only an explicit --database: never SAPIENT_DATABASE_URL, which
			// names the real database.
			if cmd.Flags().Changed("database") {
				cfg.DatabaseURL = a.database
			}
			cfg.SecretKey = a.getenv("SAPIENT_SECRET_KEY")
			if cfg.DatabaseURL != "" && !store.IsPostgres(cfg.DatabaseURL) {
				// A named SQLite file keeps its signing keys under the same
				// key-encryption key as serve would use, so that it can be
				// served afterwards.
				kek, err := a.kek()
				if err != nil {
					return err
				}
				cfg.KEK = kek
			}
			cfg.Progress = a.stderr
			if f, ok := a.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
				cfg.ProgressTTY = true
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			rep, err := bench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if a.jsonOut {
				err = rep.WriteJSON(a.stdout)
			} else {
				err = rep.WriteTable(a.stdout)
			}
			if err != nil {
				return err
			}
			if n := rep.Errors(); n > 0 {
				return fmt.Errorf("bench: %d requests failed", n)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&scenarios, "scenario", "all", "comma-separated scenarios: "+strings.Join(bench.Scenarios, ", ")+", or all")
	f.IntVar(&cfg.Credentials, "credentials", 1000, "credentials to provision")
	f.IntVar(&cfg.Concurrency, "concurrency", 64, "keep-alive clients")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time per scenario")
	f.DurationVar(&cfg.Warmup, "warmup", 0, "warm-up per scenario, not measured (default a tenth of --duration, at most 2s)")
	f.IntVar(&cfg.Rounds, "rounds", 0, "split each scenario's --duration into this many slices run in turn with the others' (default 5; fewer for short durations)")
	f.Float64Var(&cfg.Rate, "rate", 0, "fixed offered rate in requests per second (open loop); 0 for closed loop")
	f.BoolVar(&cfg.UsedThisHour, "used-this-hour", false, "give every credential a usage row for this hour before measuring, as after a few minutes of traffic")
	f.StringVar(&cfg.ProfileDir, "cpuprofile-dir", "", "write a CPU profile of each scenario to this directory")
	return a.addJSON(c)
}
