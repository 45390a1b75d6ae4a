package credential

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/name"
	"sapient.dev/sapient/internal/store"
)

// MaxLeakURLLen bounds the URL of a leak report kept in the audit trail,
// in bytes; a longer one is cut.
const MaxLeakURLLen = 300

// Leak sources, as the audit trail names them.
const (
	LeakSourceReport = "report" // POST /leaks
	LeakSourceGitHub = "github" // POST /leaks/github, GitHub secret scanning
)

// LeakReporter is the actor of a leak report from the client address ip:
// no one Sapient knows, acting with the one authority a leaked secret
// gives anyone who holds it, which is to stop it.
func LeakReporter(ip, source string) access.Actor {
	label := "leak report"
	if source == LeakSourceGitHub {
		label = "GitHub secret scanning"
	}
	return access.Actor{Kind: access.KindSystem, ID: "leak-" + source, Label: label, IP: ip}
}

// LeakReport says that secrets were found where others can read them.
type LeakReport struct {
	Secrets []string
	// URL is where they were found, as the reporter says; it is kept,
	// cut to MaxLeakURLLen, in the audit trail.
	URL    string
	Source string // LeakSourceReport or LeakSourceGitHub
}

// LeakOutcome is what a report did with one of its secrets.
type LeakOutcome int

const (
	// LeakUnknown: no credential has or had this secret (or it is not a
	// Sapient secret at all).
	LeakUnknown LeakOutcome = iota
	// LeakInactive: the secret is a credential's, but it no longer worked
	// (the credential is revoked or expired, or the secret was replaced
	// and its overlap is over); nothing changed.
	LeakInactive
	// LeakStopped: the secret worked, and the report stopped it.
	LeakStopped
)

// ReportLeaked stops every secret of the report that works: the current
// secret of an active credential, or the previous one within its roll's
// overlap. What stopping means is the organisation's leak action:
//
//   - store.LeakRevoke (the default) revokes the credential, and its
//     tokens are refused everywhere.
//   - store.LeakRoll keeps the credential and stops the leaked secret at
//     once: a leaked current secret is replaced by a new one that nobody
//     is shown, with no overlap, so the owner rolls the credential again
//     (console, API or CLI) to get a secret to use; a leaked previous
//     secret just ends its overlap, and the current secret goes on.
//     Tokens already issued run to their expiry.
//
// Each credential is changed in its own transaction with its
// credential.leaked audit event, which names the reporter's address and
// the URL, never the secret; the change log carries it to every instance.
// Strings that are not Sapient secrets (prefix, length, alphabet,
// checksum) are dropped before any lookup. A secret reported again, once
// stopped, changes nothing. The result holds one outcome per secret, in
// order.
func (s *Service) ReportLeaked(ctx context.Context, actor access.Actor, rep LeakReport) ([]LeakOutcome, error) {
	out := make([]LeakOutcome, len(rep.Secrets))
	hashes := make([]string, len(rep.Secrets))
	var lookup []string
	for i, secret := range rep.Secrets {
		if CheckSecretFormat(secret) != nil {
			continue
		}
		hashes[i] = HashSecret(secret).String()
		if !slices.Contains(lookup, hashes[i]) {
			lookup = append(lookup, hashes[i])
		}
	}
	if len(lookup) == 0 {
		return out, nil
	}
	found, err := s.Store.CredentialsBySecretHash(ctx, lookup)
	if err != nil {
		return nil, fmt.Errorf("credential: report leaked: %w", err)
	}
	url := leakURL(rep.URL)
	for _, c := range found {
		var leaked []string
		for _, h := range lookup {
			if h == c.SecretHash || h == c.PreviousSecretHash {
				leaked = append(leaked, h)
			}
		}
		stopped, err := s.stopLeaked(ctx, actor, c.ClientID, leaked, url, rep.Source)
		if err != nil {
			return nil, err
		}
		for i, h := range hashes {
			switch {
			case !slices.Contains(leaked, h):
			case slices.Contains(stopped, h):
				out[i] = LeakStopped
			case out[i] == LeakUnknown:
				out[i] = LeakInactive
			}
		}
	}
	return out, nil
}

// stopLeaked stops those of the digests leaked that work for the
// credential clientID, and returns them.
func (s *Service) stopLeaked(ctx context.Context, actor access.Actor, clientID string, leaked []string, url, source string) ([]string, error) {
	secret, err := NewSecret(s.Rand) // for the roll action; shown to no one
	if err != nil {
		return nil, err
	}
	var (
		now     time.Time
		stopped []string
		out     store.Credential
	)
	err = s.Store.InTx(ctx, func(tx store.Store) error {
		var detail string
		c, err := tx.UpdateCredential(ctx, clientID, func(c store.Credential) (store.Credential, error) {
			now = s.now() // see Revoke
			stopped = nil
			if !c.Active(now) {
				return c, nil
			}
			current := slices.Contains(leaked, c.SecretHash)
			previous := c.PreviousSecretHash != "" && slices.Contains(leaked, c.PreviousSecretHash) &&
				now.Before(c.PreviousSecretExpiresAt)
			if !current && !previous {
				return c, nil
			}
			action, err := tx.OrgLeakAction(ctx, c.OrgID)
			if err != nil {
				return c, err
			}
			if current {
				stopped = append(stopped, c.SecretHash)
			}
			if previous {
				stopped = append(stopped, c.PreviousSecretHash)
			}
			switch {
			case action != store.LeakRoll:
				c.RevokedAt, c.RevokedBy = now, actor.Label
				detail = "credential revoked"
			case current:
				c.SecretHash = HashSecret(secret).String()
				c.PreviousSecretHash, c.PreviousSecretExpiresAt = "", time.Time{}
				detail = "secret replaced by one nobody knows, with no overlap; roll the secret to use the credential again"
			default:
				c.PreviousSecretHash, c.PreviousSecretExpiresAt = "", time.Time{}
				detail = "previous secret stopped at once; the current secret still works"
			}
			c.UpdatedAt = now
			return c, nil
		})
		if err != nil || len(stopped) == 0 {
			return err
		}
		out = c
		from := actor.IP
		if from == "" {
			from = "an unknown address"
		}
		return audit.Write(ctx, tx, actor, audit.CredentialLeaked, c.OrgID, c.ClientID,
			fmt.Sprintf("reported leaked (%s) from %s, found at %q: %s", source, from, url, detail), now)
	})
	if err != nil {
		return nil, fmt.Errorf("credential: report leaked: %w", err)
	}
	if len(stopped) > 0 {
		s.changed(out)
	}
	return stopped, nil
}

// leakURL is the reported URL as the audit trail keeps it: without
// control characters, cut to MaxLeakURLLen bytes on a character boundary.
func leakURL(u string) string {
	u = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, strings.ToValidUTF8(u, ""))
	if cut := name.Truncate(u, MaxLeakURLLen); cut != u {
		return cut + "…"
	}
	return u
}
