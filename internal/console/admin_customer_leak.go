package console

import (
	"errors"
	"net/http"
	"net/url"

	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/store"
)

// customerLeakAction chooses what a reported leak of one of a customer's
// secrets does (see org.SetLeakAction).
func (c *Console) customerLeakAction(w http.ResponseWriter, r *http.Request, s *session) {
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, s, http.StatusBadRequest, "The form could not be read. Please try again.")
		return
	}
	id := r.PathValue("id")
	err := org.SetLeakAction(r.Context(), c.store, s.Actor, id, r.PostFormValue("leak_action"), c.now)
	switch {
	case errors.Is(err, org.ErrInvalidLeakAction):
		c.renderError(w, r, s, http.StatusUnprocessableEntity, "Choose what a reported leak does: Revoke the credential, or Roll its secret.")
		return
	case errors.Is(err, store.ErrNotFound):
		c.renderError(w, r, s, http.StatusNotFound, "This customer does not exist.")
		return
	case err != nil:
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: customer leak action changed", "org", id, "user", s.User.ID)
	http.Redirect(w, r, "/admin/customers/"+url.PathEscape(id)+"?saved=leak", http.StatusSeeOther)
}
