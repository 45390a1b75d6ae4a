package console

import (
	"errors"
	"net/http"
	"net/url"

	"sapient.dev/sapient/internal/credential"
)

// credentialRevokeConfirm shows the revoke confirmation as a page of its
// own, for browsers without script. With script the same dialog opens on
// the API Credentials page.
func (c *Console) credentialRevokeConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	cr, ok := c.reachable(w, r, s, r.PathValue("id"))
	if !ok {
		return
	}
	if !cr.RevokedAt.IsZero() {
		http.Redirect(w, r, "/credentials", http.StatusSeeOther)
		return
	}
	v, err := c.dialogPage(r, s, "")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	for i := range v.Rows {
		if v.Rows[i].ClientID == cr.ClientID {
			v.Revoke = &v.Rows[i]
		}
	}
	c.render(w, r, http.StatusOK, "credentials", page{Title: "Revoke API Credentials", Nav: "credentials", S: s, Data: v})
}

// credentialRevoke revokes the credentials and returns to the table, where
// they stay listed as Revoked.
func (c *Console) credentialRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	cr, err := c.creds.Revoke(r.Context(), s.Actor, r.PathValue("id"))
	if errors.Is(err, credential.ErrNotFound) {
		c.renderError(w, r, s, http.StatusNotFound, "These API credentials do not exist.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: credentials revoked", "client_id", cr.ClientID, "user", s.User.ID)
	http.Redirect(w, r, "/credentials?revoked="+url.QueryEscape(cr.ClientID), http.StatusSeeOther)
}
