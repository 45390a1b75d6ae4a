package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"sapient.dev/sapient/internal/store"
)

// Entry is one item of the revocation feed: what a local verifier must
// know of one change, as the database holds it now. Type says which of
// the other fields are set:
//
//   - "credential": ClientID, OrgID, Scopes (what the credential holds
//     now) and Revoked. A verifier refuses every token of a revoked
//     credential, and lets a token use only the scopes its credential
//     still holds.
//   - "organization": OrgID and Scopes, the organisation's grant: a token
//     may use only the scopes its organisation still grants (and the
//     reserved sapient:* scopes an Admin gave its credential).
//   - "token": JTI, ClientID and ExpiresAt of one revoked token.
//   - "key": KID of a signing key retired: its tokens are refused.
//
// Cursor is the entry's position; a follower asks for what comes after
// the last it has seen.
type Entry struct {
	Cursor    string     `json:"cursor"`
	Type      string     `json:"type"`
	ClientID  string     `json:"client_id,omitempty"`
	OrgID     string     `json:"org_id,omitempty"`
	Scopes    []string   `json:"scopes,omitempty"`
	Revoked   bool       `json:"revoked,omitempty"`
	JTI       string     `json:"jti,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	KID       string     `json:"kid,omitempty"`
}

// Page is the answer of GET /edge/revocations: the entries after the
// cursor asked for, and the cursor to ask with next.
type Page struct {
	Entries []Entry `json:"entries"`
	Cursor  string  `json:"cursor"`
}

// FeedStore is what the feed reads.
type FeedStore interface {
	store.Changes
	GetCredential(ctx context.Context, clientID string) (store.Credential, error)
	GetOrg(ctx context.Context, id string) (store.Org, error)
	GetRevokedToken(ctx context.Context, jti string) (store.RevokedToken, error)
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
}

// Feed is the handler of GET /edge/revocations, for local verifiers (the
// bearer package, or any that speaks it) holding a token with the scope
// sapient:verify. It reads the change log: ?after=CURSOR returns what
// changed after that position, in order (no cursor: the whole retained
// log, which covers every token still alive). When nothing has, it waits
// for a change (long poll, up to Wait) before answering an empty page.
// With Accept: text/event-stream it streams server-sent events instead,
// one per entry, with the entry's cursor as the event ID (a reconnecting
// client's Last-Event-ID resumes there).
type Feed struct {
	Store  FeedStore
	Logger *slog.Logger
	// Changed returns a channel that is closed when this instance next
	// applies a change (server.Server.Changed).
	Changed func() <-chan struct{}
	// Wait bounds a long poll; default 25 s, under common proxy timeouts.
	Wait time.Duration
	// KeepAlive is how often an event stream sends a comment while
	// nothing happens; default 15 s.
	KeepAlive time.Duration
	// Draining, when closed, ends every wait at once: the server is
	// shutting down. A long poll answers what it has; a stream ends.
	Draining <-chan struct{}
}

// maxEntries bounds the changes one page reads.
const maxEntries = 1000

// ServeHTTP answers one request of the feed.
func (f *Feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	cursor := r.URL.Query().Get("after")
	if id := r.Header.Get("Last-Event-ID"); id != "" && cursor == "" {
		cursor = id
	}
	after, err := f.parseCursor(r.Context(), cursor)
	if err != nil {
		var bad badCursor
		if errors.As(err, &bad) {
			writeError(w, http.StatusBadRequest, "invalid_request", string(bad))
			return
		}
		f.Logger.ErrorContext(r.Context(), "edge: feed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	if r.Header.Get("Accept") == "text/event-stream" {
		f.stream(w, r, after)
		return
	}
	wait := time.NewTimer(cmpDuration(f.Wait, 25*time.Second))
	defer wait.Stop()
	for {
		changed := f.Changed() // before reading, so that no change falls between
		page, err := f.page(r.Context(), after)
		if err != nil {
			f.Logger.ErrorContext(r.Context(), "edge: feed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
			return
		}
		// From the start of the log, the follower needs what there is
		// now, even nothing.
		if len(page.Entries) > 0 || page.Cursor != format(after) || cursor == "" {
			writeJSON(w, page)
			return
		}
		select {
		case <-changed:
		case <-wait.C:
			writeJSON(w, page)
			return
		case <-f.Draining:
			writeJSON(w, page)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// stream sends entries as server-sent events until the client goes away.
func (f *Feed) stream(w http.ResponseWriter, r *http.Request, after int64) {
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(time.Minute))
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	keep := time.NewTicker(cmpDuration(f.KeepAlive, 15*time.Second))
	defer keep.Stop()
	for {
		// The server's write timeout is for answers, not streams: each
		// write gets its own, the keep-alive comments included.
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		changed := f.Changed()
		page, err := f.page(r.Context(), after)
		if err != nil {
			f.Logger.ErrorContext(r.Context(), "edge: feed stream", "err", err)
			return
		}
		for _, e := range page.Entries {
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", e.Cursor, e.Type, b)
		}
		if len(page.Entries) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
		}
		after, _ = strconv.ParseInt(page.Cursor, 10, 64)
		if len(page.Entries) > 0 {
			continue // there may be more
		}
		select {
		case <-changed:
		case <-keep.C:
			rc.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-f.Draining:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// page reads the entries after position after.
func (f *Feed) page(ctx context.Context, after int64) (Page, error) {
	changes, err := f.Store.ChangesAfter(ctx, after, maxEntries)
	if err != nil {
		return Page{}, err
	}
	p := Page{Entries: []Entry{}, Cursor: format(after)}
	var keys []store.SigningKey
	for _, c := range changes {
		e := Entry{Cursor: format(c.Seq), Type: string(c.Kind)}
		keep := true
		switch c.Kind {
		case store.ChangeCredential:
			cr, err := f.Store.GetCredential(ctx, c.Ref)
			if err != nil {
				return Page{}, err
			}
			e.ClientID, e.OrgID, e.Scopes, e.Revoked = cr.ClientID, cr.OrgID, nonNil(cr.Scopes), !cr.RevokedAt.IsZero()
		case store.ChangeOrg:
			o, err := f.Store.GetOrg(ctx, c.Ref)
			if err != nil {
				return Page{}, err
			}
			e.Type, e.OrgID, e.Scopes = "organization", o.ID, nonNil(o.Scopes)
		case store.ChangeToken:
			t, err := f.Store.GetRevokedToken(ctx, c.Ref)
			if errors.Is(err, store.ErrNotFound) {
				keep = false // expired since, and forgotten
			} else if err != nil {
				return Page{}, err
			}
			exp := t.ExpiresAt.UTC()
			e.JTI, e.ClientID, e.ExpiresAt = t.JTI, t.ClientID, &exp
		case store.ChangeKey:
			if keys == nil {
				if keys, err = f.Store.ListSigningKeys(ctx); err != nil {
					return Page{}, err
				}
			}
			keep = false
			for _, k := range keys {
				if k.ID == c.Ref && !k.RetiredAt.IsZero() {
					e.KID, keep = k.ID, true
				}
			}
		default:
			keep = false
		}
		if keep {
			p.Entries = append(p.Entries, e)
		}
		p.Cursor = format(c.Seq)
	}
	return p, nil
}

// badCursor is a cursor the feed cannot resume from, said in the caller's
// words.
type badCursor string

func (b badCursor) Error() string { return string(b) }

// parseCursor reads a cursor: empty for the start of the log, else a
// position this feed has given, not one from the future.
func (f *Feed) parseCursor(ctx context.Context, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || len(s) > 19 {
		return 0, badCursor("The cursor must be one this feed gave (a whole number); start without one to read from the beginning.")
	}
	last, err := f.Store.LastChange(ctx)
	if err != nil {
		return 0, err
	}
	if n > last {
		return 0, badCursor("The cursor " + s + " is ahead of this feed (at " + format(last) + "): it was not given by this Sapient; start without one.")
	}
	return n, nil
}

func format(n int64) string { return strconv.FormatInt(n, 10) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
