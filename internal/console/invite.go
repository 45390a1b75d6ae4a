package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// linkView is the page that shows a one-time link once.
type linkView struct {
	Email   string
	Link    string
	Invite  bool   // an invitation, else a password reset
	Mailed  bool   // the link was emailed too
	MailErr bool   // mailing it failed
	Back    string // the list to return to
}

// userInvite creates a person without a password and shows their
// invitation link once (Admin > Users > Invite user, and Team). The
// service decides what the person inviting may ask for: an owner invites
// Customer users of their own organisation only.
func (c *Console) userInvite(w http.ResponseWriter, r *http.Request, s *session, team bool) {
	form := userForm{Email: r.PostFormValue("email"), Role: r.PostFormValue("role"), OrgID: r.PostFormValue("org"), Owner: r.PostFormValue("owner") == "on"}
	if team && form.Role == "" {
		form.Role, form.OrgID = string(store.RoleCustomer), s.User.OrgID
	}
	u, token, err := c.users.Invite(r.Context(), s.Actor, user.InviteRequest{Email: form.Email, Role: store.Role(form.Role), OrgID: form.OrgID, Owner: form.Owner})
	var verr *user.ValidationError
	if errors.As(err, &verr) {
		v, err := c.usersView(r, s, team)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		form.Errors = map[string]string{verr.Field: verr.Message}
		v.Form = form
		name, nav := usersPage(team)
		c.render(w, r, http.StatusUnprocessableEntity, name, page{Title: titleOf(team), Nav: nav, S: s, Data: v})
		return
	} else if err != nil {
		c.userFailed(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: user invited", "new_user", u.ID, "role", u.Role, "user", s.User.ID)
	c.showLink(w, r, s, u, token, true, team)
}

// showLink renders the one-time link of u once, and mails it when Sapient
// has a mailer.
func (c *Console) showLink(w http.ResponseWriter, r *http.Request, s *session, u store.User, token string, invite, team bool) {
	v := linkView{Email: u.Email, Link: user.LinkURL(c.issuer, token), Invite: invite, Back: "/admin/users"}
	if team {
		v.Back = "/team"
	}
	if c.mailer != nil {
		purpose := mail.Reset
		if invite {
			purpose = mail.Invite
		}
		if err := c.mailer.Send(r.Context(), mail.LinkMessage(purpose, u.Email, v.Link)); err != nil {
			c.log.WarnContext(r.Context(), "console: link mail not sent", "user", u.ID, "err", err)
			v.MailErr = true
		} else {
			v.Mailed = true
		}
	}
	_, nav := usersPage(team)
	c.render(w, r, http.StatusOK, "link_created", page{Title: "One-time link", Nav: nav, S: s, Data: v})
}

// mailInBackground sends msg without making the request wait, so that
// the time of an answer does not tell whether a mail was sent.
func (c *Console) mailInBackground(ctx context.Context, msg mail.Message) {
	if c.mailer == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := c.mailer.Send(ctx, msg); err != nil {
			c.log.WarnContext(ctx, "console: mail not sent", "err", err)
		}
	}()
}

func usersPage(team bool) (name, nav string) {
	if team {
		return "team", "team"
	}
	return "admin_users", "users"
}

func titleOf(team bool) string {
	if team {
		return "Team"
	}
	return "Users"
}

// userFailed answers an error of the user service: another organisation's
// user answers like an unknown one.
func (c *Console) userFailed(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var verr *user.ValidationError
	switch {
	case errors.Is(err, user.ErrNotFound):
		c.renderError(w, r, s, http.StatusNotFound, "No such user. They may have been deleted.")
	case errors.Is(err, user.ErrForbidden):
		c.renderError(w, r, s, http.StatusForbidden, "You may not do this. An organisation owner manages the Customer users of their own organisation only.")
	case errors.Is(err, user.ErrLastAdmin):
		c.renderError(w, r, s, http.StatusConflict, "This is the last active Admin: they can be neither disabled, demoted nor deleted. Make another Admin first.")
	case errors.Is(err, user.ErrSelf):
		c.renderError(w, r, s, http.StatusConflict, "You cannot disable or delete your own account. Ask another Admin.")
	case errors.As(err, &verr):
		c.renderError(w, r, s, http.StatusUnprocessableEntity, verr.Message)
	default:
		c.fail(w, r, s, err)
	}
}
