package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/api"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/clientip"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/user"
)

// rateLimitAuditEvery bounds how often one credential's refusals for its
// rate are written to the audit trail.
const rateLimitAuditEvery = time.Minute

// rateLimitAudits remembers when each credential's refusals were last
// audited.
type rateLimitAudits struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// rateLimited audits a credential that keeps hitting its rate limit: at
// most one event per credential per minute, written off the request path.
func (s *Server) rateLimited(e *credential.Entry, where string) {
	now := s.cfg.Now()
	s.limitAudits.mu.Lock()
	if s.limitAudits.last == nil {
		s.limitAudits.last = map[string]time.Time{}
	}
	if now.Sub(s.limitAudits.last[e.ClientID]) < rateLimitAuditEvery {
		s.limitAudits.mu.Unlock()
		return
	}
	s.limitAudits.last[e.ClientID] = now
	if len(s.limitAudits.last) > 100_000 {
		clear(s.limitAudits.last)
	}
	s.limitAudits.mu.Unlock()
	actor := access.Credential(e.ClientID, e.Name, e.OrgID, nil)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := audit.Write(ctx, s.cfg.Store, actor, audit.CredentialRateLimit, e.OrgID, e.ClientID,
			"requests refused for exceeding the rate limit at the "+where, now); err != nil {
			s.log.Warn("audit of rate limiting failed", "err", err)
		}
	}()
}

// introspectionRefused audits a credential that asked to introspect
// without the right to.
func (s *Server) introspectionRefused(r *http.Request, caller *credential.Entry, reason string) {
	actor := access.Credential(caller.ClientID, caller.Name, caller.OrgID, nil)
	actor.IP, actor.UserAgent = s.ClientIP.IP(r).String(), r.UserAgent()
	if err := audit.Write(r.Context(), s.cfg.Store, actor, audit.IntrospectRefused, caller.OrgID, caller.ClientID, reason, s.cfg.Now()); err != nil {
		s.log.WarnContext(r.Context(), "audit of refused introspection failed", "err", err)
	}
}

// sessionSource lets the REST API accept console sessions.
func (s *Server) sessionSource() api.SessionSource {
	return sessionSource{
		sessions: &user.Sessions{Store: s.cfg.Store, Now: s.cfg.Now, Rand: s.cfg.Rand},
		secure:   strings.HasPrefix(s.cfg.Issuer, "https://"),
		clientIP: s.ClientIP,
	}
}

type sessionSource struct {
	sessions *user.Sessions
	secure   bool
	clientIP *clientip.Resolver
}

func (ss sessionSource) SessionActor(r *http.Request) (access.Actor, bool) {
	ip := ""
	if a := ss.clientIP.IP(r); a.IsValid() {
		ip = a.String()
	}
	caller, err := ss.sessions.FromRequest(r, ss.secure, ip)
	if err != nil {
		return access.Actor{}, false
	}
	return caller.Actor, true
}
