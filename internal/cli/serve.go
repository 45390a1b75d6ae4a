package cli

import (
	"fmt"
	"net"
	"net/url"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/leak"
	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/webhook"
)

func (a *app) serveCmd() *cobra.Command {
	var (
		addr, issuer, audience, alg, proxies, redisURL string
		smtpURL, smtpFrom                              string
		ttl, rotation, retention                       time.Duration
		tokenRate, apiRate                             int
		preload, allowPrivate                          bool
		githubKeysURL                                  string
		leakRate                                       int
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the Sapient server (console, token endpoint, API)",
		Long: `Run the Sapient server. On first start on an empty database it creates an
Admin from SAPIENT_ADMIN_EMAIL and SAPIENT_ADMIN_PASSWORD, or generates a password
and prints the login once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			signingAlg, err := keys.ParseAlgorithm(alg)
			if err != nil {
				return err
			}
			if ttl < time.Minute || ttl > 24*time.Hour {
				return fmt.Errorf("--token-ttl must be between 1m and 24h, not %s", ttl)
			}
			trusted, err := clientip.ParsePrefixes(proxies)
			if err != nil {
				return fmt.Errorf("--trusted-proxies: %w", err)
			}
			if redisURL != "" {
				if _, err := ratelimit.ParseRedisURL(redisURL); err != nil {
					return fmt.Errorf("--redis-url: %w", err)
				}
				ratelimit.RedisLogsTo(log)
			}
			if u, err := url.Parse(githubKeysURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return fmt.Errorf("--github-keys-url must be an http or https URL, not %q", githubKeysURL)
			}
			if issuer == "" {
				issuer = "http://" + addr
			}
			var mailer *mail.Mailer
			if smtpURL != "" {
				if mailer, err = mail.New(smtpURL, smtpFrom, issuer); err != nil {
					return fmt.Errorf("--smtp-url: %w", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			kek, err := a.kek()
			if err != nil {
				return err
			}
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			srv, err := server.New(ctx, server.Config{
				Store: st, KEK: kek, Logger: log, Issuer: issuer, Audience: audience, TokenTTL: ttl,
				SigningAlgorithm: signingAlg, KeyRotation: rotation, TrustedProxies: trusted,
				TokenRateLimit: tokenRate, APIRateLimit: apiRate, Retention: retention,
				SkipCredentialPreload: !preload, RedisURL: redisURL, Mailer: mailer,
				GitHubKeysURL: githubKeysURL, LeakRateLimit: leakRate,
				Webhooks: webhook.Options{AllowPrivate: allowPrivate}, Password: a.password,
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			if a.password.Weak() {
				log.Warn("password hashes made from now on are weaker than OWASP's least recommended argon2id configuration: fit for tests only", "password_hash", a.password.String())
			}
			created, generated, err := srv.Users.Bootstrap(ctx, a.getenv("SAPIENT_ADMIN_EMAIL"), a.getenv("SAPIENT_ADMIN_PASSWORD"))
			if err != nil {
				return err
			}
			err = server.ListenAndServe(ctx, addr, srv.Handler(), func(bound net.Addr) {
				log.Info("sapient listening", "addr", bound.String(), "issuer", srv.Issuer(), "version", Version)
				if created {
					a.printBootstrap(srv.Issuer(), a.env("SAPIENT_ADMIN_EMAIL", "admin@localhost"), generated)
				}
			}, srv.Drain)
			log.Info("sapient stopped")
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&addr, "addr", a.env("SAPIENT_ADDR", "localhost:8080"), "address to listen on (env SAPIENT_ADDR)")
	f.StringVar(&issuer, "issuer", a.getenv("SAPIENT_ISSUER"), "issuer URL: the public base URL of this server (env SAPIENT_ISSUER; default http://ADDR)")
	f.StringVar(&audience, "audience", a.getenv("SAPIENT_AUDIENCE"), "aud claim of access tokens (env SAPIENT_AUDIENCE; default: the issuer)")
	f.DurationVar(&ttl, "token-ttl", time.Hour, "access token lifetime")
	f.StringVar(&alg, "signing-alg", a.env("SAPIENT_SIGNING_ALG", "ES256"), "JWT signing algorithm: ES256, EdDSA or RS256")
	f.DurationVar(&rotation, "key-rotation", 30*24*time.Hour, "how long a signing key signs before the next takes over (negative: never)")
	f.StringVar(&proxies, "trusted-proxies", a.getenv("SAPIENT_TRUSTED_PROXIES"),
		"CIDRs of reverse proxies whose X-Forwarded-For is believed (env SAPIENT_TRUSTED_PROXIES; default: none)")
	f.DurationVar(&retention, "retention", 400*24*time.Hour, "how long usage counters and audit events are kept")
	f.IntVar(&tokenRate, "token-rate-limit", 100, "token requests per second per credential, unless its organisation sets one (negative: unlimited)")
	f.IntVar(&apiRate, "api-rate-limit", 1000, "API calls per second per credential, unless its organisation sets one (negative: unlimited)")
	f.StringVar(&redisURL, "redis-url", a.getenv("SAPIENT_REDIS_URL"),
		"Redis through which instances share rate limits and login throttles, redis://[:PASSWORD@]HOST:PORT/DB (env SAPIENT_REDIS_URL; default: none, limits per instance)")
	f.BoolVar(&allowPrivate, "webhooks-allow-private", a.getenv("SAPIENT_WEBHOOKS_ALLOW_PRIVATE") == "1" || a.getenv("SAPIENT_WEBHOOKS_ALLOW_PRIVATE") == "true",
		"let webhooks reach loopback and private addresses, over http too, for tests and trusted networks (env SAPIENT_WEBHOOKS_ALLOW_PRIVATE)")
	f.StringVar(&githubKeysURL, "github-keys-url", a.env("SAPIENT_GITHUB_KEYS_URL", leak.DefaultGitHubKeysURL),
		"where the public keys that sign GitHub secret scanning alerts (POST /leaks/github) are fetched (env SAPIENT_GITHUB_KEYS_URL)")
	f.IntVar(&leakRate, "leak-rate-limit", leak.DefaultRate, "leak reports (POST /leaks) per second per client address (negative: unlimited)")
	f.StringVar(&smtpURL, "smtp-url", a.getenv("SAPIENT_SMTP_URL"),
		"SMTP server that sends invitation and password reset links, smtp://user:pass@host:port (env SAPIENT_SMTP_URL; default: none, links are only shown)")
	f.StringVar(&smtpFrom, "smtp-from", a.getenv("SAPIENT_SMTP_FROM"), "From address of Sapient's mail (env SAPIENT_SMTP_FROM; default sapient@ the issuer's host)")
	f.BoolVar(&preload, "preload-credentials", true, "read every credential into memory at start, in the background (about 100 bytes each)")
	return c
}

// printBootstrap shows the first Admin's login once, on standard output,
// never in the logs.
func (a *app) printBootstrap(issuer, email, generated string) {
	fmt.Fprintln(a.stdout, "")
	fmt.Fprintln(a.stdout, "  ==============================================================")
	fmt.Fprintln(a.stdout, "   Sapient created the first Admin user.")
	fmt.Fprintf(a.stdout, "   Console:  %s/login\n", issuer)
	fmt.Fprintf(a.stdout, "   Email:    %s\n", email)
	if generated != "" {
		fmt.Fprintf(a.stdout, "   Password: %s\n", generated)
		fmt.Fprintln(a.stdout, "   This password is shown once. Change it after you log in.")
	} else {
		fmt.Fprintln(a.stdout, "   Password: the value of SAPIENT_ADMIN_PASSWORD")
	}
	fmt.Fprintln(a.stdout, "  ==============================================================")
	fmt.Fprintln(a.stdout, "")
}
