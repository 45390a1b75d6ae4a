package console

import (
	"errors"
	"net/http"
	"net/url"

	"sapient.dev/sapient/internal/store"
)

// userSessionsEnd ends every session of one user, for example of a
// laptop that was lost. The Admin's own sessions end too when the user is
// themselves.
func (c *Console) userSessionsEnd(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	n, err := c.sessions.EndAllOf(r.Context(), s.Actor, id)
	if errors.Is(err, store.ErrNotFound) {
		c.renderError(w, r, s, http.StatusNotFound, "This user does not exist.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: sessions of a user ended", "target", id, "count", n, "user", s.User.ID)
	http.Redirect(w, r, "/admin/users?sessions_ended="+url.QueryEscape(id), http.StatusSeeOther)
}
