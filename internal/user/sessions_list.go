package user

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
)

// SessionHandle names a session in the person's list of sessions and in
// the form that ends one. It is derived from the stored digest, so that
// pages never show the key the store finds sessions by.
func SessionHandle(se store.Session) string {
	sum := sha256.Sum256([]byte("sapient session handle\x00" + se.ID))
	return hex.EncodeToString(sum[:16])
}

// List returns the sessions of a user that are in use: whole logins that
// have neither expired nor idled out nor begun before the last password
// change, newest first.
func (s *Sessions) List(ctx context.Context, u store.User) ([]store.Session, error) {
	all, err := s.Store.ListUserSessions(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("user: list sessions: %w", err)
	}
	now := s.Now()
	out := all[:0]
	for _, se := range all {
		if se.Pending == "" && now.Before(se.ExpiresAt) && now.Sub(se.LastSeenAt) < SessionIdle && !se.CreatedAt.Before(u.PasswordChangedAt) {
			out = append(out, se)
		}
	}
	return out, nil
}

// ErrUnknownSession is the answer to ending a session that is not one of
// the person's own, whether it exists for someone else or not at all.
var ErrUnknownSession = errors.New("user: no such session")

// EndOne ends the session named by handle (see SessionHandle) of the
// person of actor, and writes the session.ended event in the same
// transaction. A handle that names no session of theirs is
// ErrUnknownSession, and nothing changes.
func (s *Sessions) EndOne(ctx context.Context, actor access.Actor, handle string) error {
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		all, err := tx.ListUserSessions(ctx, actor.ID)
		if err != nil {
			return err
		}
		for _, se := range all {
			if SessionHandle(se) == handle {
				if err := tx.DeleteSession(ctx, se.ID); err != nil {
					return err
				}
				return audit.Write(ctx, tx, actor, audit.SessionEnded, actor.OrgID, actor.Label, describeSession(se), s.Now())
			}
		}
		return ErrUnknownSession
	})
	if errors.Is(err, ErrUnknownSession) {
		return err
	} else if err != nil {
		return fmt.Errorf("user: end session: %w", err)
	}
	return nil
}

// EndOthers ends every session of the person of actor but the one of
// keepToken, writes the sessions.ended event, and returns how many ended.
func (s *Sessions) EndOthers(ctx context.Context, actor access.Actor, keepToken string) (int, error) {
	keep := SessionID(keepToken)
	n := 0
	err := s.Store.InTx(ctx, func(tx store.Store) error {
		all, err := tx.ListUserSessions(ctx, actor.ID)
		if err != nil {
			return err
		}
		for _, se := range all {
			if se.ID != keep {
				n++
			}
		}
		if err := tx.DeleteUserSessions(ctx, actor.ID, keep); err != nil {
			return err
		}
		return audit.Write(ctx, tx, actor, audit.SessionsEnded, actor.OrgID, actor.Label, "other sessions ended: "+strconv.Itoa(n), s.Now())
	})
	if err != nil {
		return 0, fmt.Errorf("user: end other sessions: %w", err)
	}
	return n, nil
}

// describeSession is a session in an audit entry: browser and address.
func describeSession(se store.Session) string {
	parts := []string{Browser(se.UserAgent)}
	if se.IP != "" {
		parts = append(parts, "from "+se.IP)
	}
	return strings.Join(parts, " ")
}

// Browser summarises a User-Agent header for people: the browser and the
// operating system, for example "Chrome on macOS". It knows the common
// browsers; anything else is named by its first product token.
func Browser(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown browser"
	}
	name := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Headless Chrome"},
		{"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"CriOS/", "Chrome"}, {"Safari/", "Safari"},
		{"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			name = b.name
			break
		}
	}
	if name == "" {
		name, _, _ = strings.Cut(ua, "/")
		name, _, _ = strings.Cut(name, " ")
		if len(name) > 40 {
			name = name[:40]
		}
		name = strings.ToValidUTF8(name, "")
	}
	for _, o := range []struct{ token, name string }{
		{"Windows", "Windows"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"},
		{"Android", "Android"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return name + " on " + o.name
		}
	}
	return name
}
