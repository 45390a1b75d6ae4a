package server

import (
	"net/http"

	"sapient.dev/sapient/internal/leak"
	"sapient.dev/sapient/internal/ratelimit"
)

// leaks is POST /leaks, public: anyone reports Sapient secrets found where
// others can read them. Reports are limited per client address, across
// instances with Config.RedisURL.
func (s *Server) leaks() http.Handler {
	var limiter ratelimit.Allower = ratelimit.New()
	if s.redis != nil {
		limiter = ratelimit.NewShared(s.redis, "leaks")
	}
	return &leak.Handler{
		Reporter: s.Credentials, ClientIP: s.ClientIP, Limiter: limiter, Rate: s.cfg.LeakRateLimit,
		Logger: s.log, Now: s.cfg.Now,
	}
}

// githubLeaks is POST /leaks/github, for GitHub's secret scanning partner
// program; its alerts are signed by the keys at Config.GitHubKeysURL.
func (s *Server) githubLeaks() http.Handler {
	return &leak.GitHubHandler{
		Reporter: s.Credentials, Keys: &leak.Keys{URL: s.cfg.GitHubKeysURL, Now: s.cfg.Now},
		ClientIP: s.ClientIP, Logger: s.log, Now: s.cfg.Now,
	}
}
