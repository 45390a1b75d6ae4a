package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/audit"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/webhook"
)

// auditActions are the actions of the audit trail with their names in the
// console, in the order the action filter offers them.
var auditActions = []struct{ Action, Label string }{
	{audit.LoginSucceeded, "Logged in"},
	{audit.LoginFailed, "Login failed"},
	{audit.Logout, "Logged out"},
	{audit.PasswordChanged, "Password changed"},
	{audit.CredentialCreated, "Credentials created"},
	{audit.CredentialUpdated, "Credentials changed"},
	{audit.CredentialRolled, "Secret rolled"},
	{audit.CredentialRevoked, "Credentials revoked"},
	{audit.CredentialLeaked, "Secret reported leaked"},
	{audit.CredentialRateLimit, "Rate limit reached"},
	{audit.IntrospectRefused, "Introspection refused"},
	{audit.UserCreated, "User created"},
	{audit.OrgCreated, "Customer created"},
	{audit.OrgUpdated, "Customer changed"},
	{audit.ScopeCreated, "Scope created"},
	{audit.KeyRotated, "Signing key rotated"},
	{webhook.ActionCredentialExpiring, "Credentials expiring"},
	{webhook.ActionCredentialExpired, "Credentials expired"},
	{webhook.ActionEndpointCreated, "Webhook endpoint added"},
	{webhook.ActionEndpointUpdated, "Webhook endpoint changed"},
	{webhook.ActionEndpointDeleted, "Webhook endpoint deleted"},
	{webhook.ActionEndpointDisabled, "Webhook endpoint disabled"},
	{webhook.ActionDeliveryResent, "Webhook delivery resent"},
}

// auditPageSize is the number of events on one page.
const auditPageSize = 50

// auditView is the data of Admin > Audit log and of Activity.
type auditView struct {
	Admin   bool
	Path    string // /admin/audit or /activity
	Orgs    []store.Org
	Filter  string // Admin: the organisation shown, "" for all
	Action  string
	Actions []choice
	From    string // the date fields as typed
	To      string
	Error   string
	Rows    []auditRow
	Older   string // the next page's URL, "" on the last
	Newest  string // the first page's URL, "" on the first
}

// choice is one option of a select.
type choice struct {
	Value, Label string
	Selected     bool
}

// auditRow is one event as the table shows it.
type auditRow struct {
	At        time.Time
	OrgName   string
	Action    string // its name in the console
	Code      string // the action as stored, for example login.failed
	Actor     string
	ActorSub  string // how the actor acted: "API credentials", "CLI", ...
	Target    string
	TargetSub string // the client ID of credentials named in Target
	Detail    string
	IP        string
	UserAgent string
}

// auditList shows the audit trail: every event for an Admin (Admin > Audit
// log), the events of their own organisation for a Customer (Activity),
// newest first, a page at a time.
func (c *Console) auditList(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	if s.Actor.IsAdmin() && r.URL.Path == "/activity" {
		http.Redirect(w, r, "/admin/audit?"+q.Encode(), http.StatusSeeOther)
		return
	}
	v := &auditView{Admin: s.Actor.IsAdmin(), Path: "/activity", Action: q.Get("action"), From: q.Get("from"), To: q.Get("to")}
	title, nav := "Activity", "activity"
	if v.Admin {
		v.Path, title, nav = "/admin/audit", "Audit log", "audit"
	}
	orgs, names, chosen, err := c.orgFilter(r.Context(), s, q.Get("org"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Orgs, v.Filter = orgs, chosen.ID
	f := audit.Query{OrgID: v.Filter}
	for _, a := range auditActions {
		v.Actions = append(v.Actions, choice{Value: a.Action, Label: a.Label, Selected: a.Action == v.Action})
		if a.Action == v.Action {
			f.Action = a.Action
		}
	}
	status := http.StatusOK
	if f.From, err = parseDay(v.From); err != nil {
		v.Error, status = "From must be a date such as 2026-11-25.", http.StatusUnprocessableEntity
	}
	if f.To, err = parseDay(v.To); err != nil {
		v.Error, status = "To must be a date such as 2026-11-25.", http.StatusUnprocessableEntity
	} else if !f.To.IsZero() {
		f.To = f.To.AddDate(0, 0, 1) // the whole day of To
	}
	if v.Error == "" && !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		v.Error, status = "From must not be after To.", http.StatusUnprocessableEntity
	}
	if v.Error == "" {
		cursor, ok := parseCursor(q.Get("before"))
		events, more, err := c.auditPage(r.Context(), s.Actor, f, cursor, ok)
		if errors.Is(err, audit.ErrNoOrganisation) {
			c.renderError(w, r, s, http.StatusForbidden, "Your user belongs to no organisation.")
			return
		} else if err != nil {
			c.fail(w, r, s, err)
			return
		}
		credNames, err := c.credentialNames(r.Context(), s.Actor, f.OrgID)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		for _, e := range events {
			v.Rows = append(v.Rows, newAuditRow(e, names, credNames))
		}
		link := url.Values{}
		for _, k := range []string{"org", "action", "from", "to"} {
			if val := q.Get(k); val != "" {
				link.Set(k, val)
			}
		}
		if ok {
			v.Newest = v.Path + "?" + link.Encode()
		}
		if more {
			last := events[len(events)-1]
			link.Set("before", last.At.UTC().Format(time.RFC3339Nano)+" "+last.ID)
			v.Older = v.Path + "?" + link.Encode()
		}
	}
	c.render(w, r, status, "audit", page{Title: title, Nav: nav, S: s, Data: v})
}

// auditCursor is where a page of events starts: after the event ID at At,
// in the order newest first (by time, then by ID).
type auditCursor struct {
	At time.Time
	ID string
}

func parseCursor(s string) (auditCursor, bool) {
	at, id, ok := strings.Cut(s, " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	if !ok || err != nil || id == "" {
		return auditCursor{}, false
	}
	return auditCursor{At: t, ID: id}, true
}

// auditPage reads one page of the events actor may see after cursor,
// newest first, and whether there are more. The store pages by time and
// then ID, so events that share a time are neither skipped nor shown twice.
func (c *Console) auditPage(ctx context.Context, actor access.Actor, f audit.Query, cursor auditCursor, paging bool) ([]store.AuditEvent, bool, error) {
	if paging {
		f.Before, f.BeforeID = cursor.At, cursor.ID
	}
	f.Limit = auditPageSize + 1
	events, err := c.audit.List(ctx, actor, f)
	if err != nil {
		return nil, false, err
	}
	if len(events) > auditPageSize {
		return events[:auditPageSize], true, nil
	}
	return events, false, nil
}

// parseDay reads a date field; empty is the zero time.
func parseDay(s string) (time.Time, error) {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, s)
}

// credentialNames maps the client IDs the actor may see to their names,
// so that events name credentials as people know them.
func (c *Console) credentialNames(ctx context.Context, actor access.Actor, orgID string) (map[string]string, error) {
	list, err := c.creds.List(ctx, actor, orgID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	for _, cr := range list {
		out[cr.ClientID] = cr.Name
	}
	return out, nil
}

// newAuditRow words an event for the table.
func newAuditRow(e store.AuditEvent, orgNames, credNames map[string]string) auditRow {
	row := auditRow{At: e.At, OrgName: orgNames[e.OrgID], Action: e.Action, Code: e.Action, Actor: e.ActorLabel,
		Target: e.Target, Detail: e.Detail, IP: e.IP, UserAgent: e.UserAgent}
	for _, a := range auditActions {
		if a.Action == e.Action {
			row.Action = a.Label
		}
	}
	switch access.Kind(e.ActorKind) {
	case access.KindCredential:
		row.ActorSub = "API credentials " + e.ActorID
	case access.KindCLI:
		row.Actor, row.ActorSub = "CLI", "Admin authority"
	case access.KindSystem:
		row.Actor, row.ActorSub = "Sapient", e.ActorLabel
	}
	if name, ok := credNames[e.Target]; ok {
		row.Target, row.TargetSub = name, e.Target
	} else if name, ok := orgNames[e.Target]; ok && name != "" {
		row.Target = name
	}
	return row
}
