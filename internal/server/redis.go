package server

import (
	"context"
	"fmt"

	"sapient.dev/sapient/internal/metrics"
	"sapient.dev/sapient/internal/ratelimit"
	"sapient.dev/sapient/internal/user"
)

// shareLimits connects to Config.RedisURL, when set, and puts the token and
// API rate limits and the login throttle there, shared by every instance.
// A wrong URL is an error; a Redis that does not answer is logged, and the
// limits stay per instance until it answers.
func (s *Server) shareLimits(ctx context.Context) error {
	if s.cfg.RedisURL == "" {
		return nil
	}
	up := metrics.NewRedisUp(s.registry)
	r, err := ratelimit.NewRedis(ctx, ratelimit.RedisConfig{
		URL: s.cfg.RedisURL, Prefix: s.cfg.RedisPrefix, Timeout: s.cfg.RedisTimeout, Logger: s.log, Now: s.cfg.Now,
		Changed: func(ok bool) {
			if ok {
				up.Set(1)
			} else {
				up.Set(0)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.redis = r
	s.Limiter = ratelimit.NewShared(r, "token")
	s.APILimiter = ratelimit.NewShared(r, "api")
	s.throttle = user.NewThrottle(s.cfg.Now)
	s.throttle.Shared = &user.RedisStrikes{Redis: r}
	return nil
}

// redisState is the line /readyz adds about Redis, or "" without Redis.
func (s *Server) redisState() string {
	switch {
	case s.redis == nil:
		return ""
	case s.redis.Check():
		return "redis: up\n"
	default:
		return "redis: down; rate limits and login throttles are per instance until it answers\n"
	}
}

// closeRedis closes the connection to Redis, if any.
func (s *Server) closeRedis() {
	if s.redis != nil {
		s.redis.Close()
	}
}
