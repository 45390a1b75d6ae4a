package console

import (
	"errors"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/credential"
)

// rollView is the Roll secret dialog of one credential.
type rollView struct {
	Open     bool // rendered open by the server (no script needed)
	ClientID string
	Name     string
	Choices  []overlapChoice
	Error    string
}

// overlapChoice is one answer to "how long does the old secret keep
// working?".
type overlapChoice struct {
	Value   string // the form value: a Go duration
	Label   string
	Checked bool
}

// overlapChoices are the choices of the Roll secret dialog: the service's
// credential.RollOverlaps, which the REST API and the CLI offer too.
func overlapChoices(checked time.Duration) []overlapChoice {
	labels := map[time.Duration]string{0: "Now", time.Hour: "1 hour", 24 * time.Hour: "24 hours", 7 * 24 * time.Hour: "7 days"}
	out := make([]overlapChoice, 0, len(credential.RollOverlaps))
	for _, d := range credential.RollOverlaps {
		label, ok := labels[d]
		if !ok {
			label = d.String()
		}
		out = append(out, overlapChoice{Value: d.String(), Label: label, Checked: d == checked})
	}
	return out
}

// defaultOverlap is the choice checked at first: a day leaves time to roll
// the new secret out.
const defaultOverlap = 24 * time.Hour

// credentialRollConfirm shows the Roll secret dialog as a page of its own,
// for browsers without script. With script the same dialog opens on the
// API Credentials page.
func (c *Console) credentialRollConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	cr, ok := c.editable(w, r, s)
	if !ok {
		return
	}
	v, err := c.dialogPage(r, s, "")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Roll.Open, v.Roll.ClientID, v.Roll.Name = true, cr.ClientID, cr.Name
	c.render(w, r, http.StatusOK, "credentials", page{Title: "Roll secret", Nav: "credentials", S: s, Data: v})
}

// credentialRoll gives the credentials a new secret and answers with the
// New secret dialog showing it. As with a create, the secret is in this
// one response only, which may not be cached.
func (c *Console) credentialRoll(w http.ResponseWriter, r *http.Request, s *session) {
	const chooseOverlap = "Choose how long the old secret keeps working."
	overlap, err := time.ParseDuration(r.PostFormValue("overlap"))
	if err != nil {
		c.rollInvalid(w, r, s, chooseOverlap)
		return
	}
	rolled, err := c.creds.Roll(r.Context(), s.Actor, r.PathValue("id"), overlap)
	var verr *credential.ValidationError
	switch {
	case errors.Is(err, credential.ErrNotFound):
		c.renderError(w, r, s, http.StatusNotFound, "These API credentials do not exist.")
		return
	case errors.As(err, &verr) && verr.Field == "previous_secret_expires_in":
		c.rollInvalid(w, r, s, chooseOverlap)
		return
	case errors.As(err, &verr):
		c.rollInvalid(w, r, s, verr.Message)
		return
	case err != nil:
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: secret rolled", "client_id", rolled.Credential.ClientID, "user", s.User.ID)
	v, err := c.dialogPage(r, s, "")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Created = &createdView{
		Name: rolled.Credential.Name, ClientID: rolled.Credential.ClientID, Secret: rolled.Secret,
		Scopes: rolled.Credential.Scopes, Rolled: true, OldUntil: rolled.Credential.PreviousSecretExpiresAt,
	}
	c.render(w, r, http.StatusOK, "credentials", page{Title: "New secret", Nav: "credentials", S: s, Data: v})
}

// rollInvalid shows the Roll secret dialog again with what went wrong.
func (c *Console) rollInvalid(w http.ResponseWriter, r *http.Request, s *session, msg string) {
	cr, ok := c.reachable(w, r, s, r.PathValue("id"))
	if !ok {
		return
	}
	v, err := c.dialogPage(r, s, "")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Roll.Open, v.Roll.ClientID, v.Roll.Name, v.Roll.Error = true, cr.ClientID, cr.Name, msg
	if !cr.Active(c.now()) {
		v.Roll.Choices = nil // nothing to choose: the dialog only explains
	}
	c.render(w, r, http.StatusUnprocessableEntity, "credentials", page{Title: "Roll secret", Nav: "credentials", S: s, Data: v})
}
