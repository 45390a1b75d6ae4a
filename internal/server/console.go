package server

import (
	"fmt"
	"net/http"

	"sapient.dev/sapient/internal/console"
	"sapient.dev/sapient/internal/sso"
)

// registerConsole mounts the web console on mux.
func (s *Server) registerConsole(mux *http.ServeMux) error {
	c, err := console.New(console.Config{
		Store: s.cfg.Store, Credentials: s.Credentials, Users: s.Users, Webhooks: s.Webhooks,
		Logger: s.log, Now: s.cfg.Now, Issuer: s.cfg.Issuer, ClientIP: s.ClientIP, Logins: s.cfg.Logins,
		Throttle: s.throttle, Mailer: s.cfg.Mailer, KEK: s.cfg.KEK,
		SSO: &sso.Service{Store: s.cfg.Store, Users: s.Users, KEK: s.cfg.KEK, Now: s.cfg.Now, Rand: s.cfg.Rand,
			Issuer: s.cfg.Issuer},
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	c.Register(mux)
	s.console = c
	return nil
}
