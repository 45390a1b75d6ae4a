package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// Users serves /api/v1/users. Every handler calls user.Service with the
// caller's actor, so who may reach whom is decided there, as for the
// console and the CLI: an Admin's session reaches every user; an
// organisation owner's session, or a credential holding users:read or
// users:write (Admin-only scopes, granted credential by credential),
// reaches the Customer users of its own organisation only.
type Users struct {
	Service *user.Service
	Logger  *slog.Logger
	// Issuer starts the one-time links the API returns.
	Issuer string
	// Mailer, when set, mails invitation links too.
	Mailer *mail.Mailer
}

// User is a console user as the API shows it: never a password hash.
type User struct {
	ID             string     `json:"id"`
	Email          string     `json:"email"`
	Role           string     `json:"role"`
	OrganizationID string     `json:"organization_id,omitempty"`
	Owner          bool       `json:"owner"`
	Disabled       bool       `json:"disabled"`
	Invited        bool       `json:"invited"` // no password chosen yet
	TwoFactor      bool       `json:"two_factor"`
	CreatedAt      time.Time  `json:"created_at"`
	LastLoginAt    *time.Time `json:"last_login_at,omitempty"`
	// Link is the one-time invitation link, only in the response that
	// creates it.
	Link string `json:"link,omitempty"`
}

func userToAPI(u store.User) User {
	return User{ID: u.ID, Email: u.Email, Role: string(u.Role), OrganizationID: u.OrgID, Owner: u.Owner,
		Disabled: u.Disabled(), Invited: u.PasswordHash == "", CreatedAt: u.CreatedAt.UTC(), LastLoginAt: optTime(u.LastLoginAt)}
}

// list answers GET /api/v1/users.
func (h *Users) list(w http.ResponseWriter, r *http.Request) {
	list, err := h.Service.List(r.Context(), Caller(r.Context()).Actor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if out, ok := h.toAPI(w, r, list...); ok {
		writeJSON(w, http.StatusOK, map[string]any{"data": out})
	}
}

// get answers GET /api/v1/users/{id}.
func (h *Users) get(w http.ResponseWriter, r *http.Request) {
	u, err := h.Service.Get(r.Context(), Caller(r.Context()).Actor, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if out, ok := h.toAPI(w, r, u); ok {
		writeJSON(w, http.StatusOK, out[0])
	}
}

// toAPI is users as the API shows them, each with whether they have a
// second factor; on failure it has answered and ok is false.
func (h *Users) toAPI(w http.ResponseWriter, r *http.Request, users ...store.User) (out []User, ok bool) {
	twoFactor, err := h.Service.Store.TwoFactorUsers(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	out = make([]User, 0, len(users))
	for _, u := range users {
		a := userToAPI(u)
		a.TwoFactor = twoFactor[u.ID]
		out = append(out, a)
	}
	return out, true
}

// inviteUser is the body of POST /api/v1/users.
type inviteUser struct {
	Email          string `json:"email"`
	Role           string `json:"role"`
	OrganizationID string `json:"organization_id"`
	Owner          bool   `json:"owner"`
}

// invite answers POST /api/v1/users: the user is created without a
// password and the response carries their one-time invitation link.
func (h *Users) invite(w http.ResponseWriter, r *http.Request) {
	var body inviteUser
	if !decode(w, r, &body) {
		return
	}
	actor := Caller(r.Context()).Actor
	if !actor.IsAdmin() && body.Role == "" && body.OrganizationID == "" {
		body.Role, body.OrganizationID = string(store.RoleCustomer), actor.OrgID
	}
	u, token, err := h.Service.Invite(r.Context(), actor, user.InviteRequest{
		Email: body.Email, Role: store.Role(body.Role), OrgID: body.OrganizationID, Owner: body.Owner})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := userToAPI(u)
	out.Link = user.LinkURL(h.Issuer, token)
	if h.Mailer != nil {
		if err := h.Mailer.Send(r.Context(), mail.LinkMessage(mail.Invite, u.Email, out.Link)); err != nil {
			h.Logger.WarnContext(r.Context(), "api: invitation not mailed", "user", u.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusCreated, out)
}

// updateUser is the body of PATCH /api/v1/users/{id}; absent members stay.
type updateUser struct {
	Role           *string `json:"role"`
	OrganizationID *string `json:"organization_id"`
	Owner          *bool   `json:"owner"`
	Disabled       *bool   `json:"disabled"`
}

// update answers PATCH /api/v1/users/{id}: role, organisation, owner and
// disabled, each through the service's rules.
func (h *Users) update(w http.ResponseWriter, r *http.Request) {
	var body updateUser
	if !decode(w, r, &body) {
		return
	}
	actor, id := Caller(r.Context()).Actor, r.PathValue("id")
	u, err := h.Service.Get(r.Context(), actor, id)
	if err == nil && (body.Role != nil || body.OrganizationID != nil || body.Owner != nil) {
		req := user.UpdateRequest{OrgID: body.OrganizationID, Owner: body.Owner}
		if body.Role != nil {
			role := store.Role(*body.Role)
			req.Role = &role
		}
		u, err = h.Service.Update(r.Context(), actor, id, req)
	}
	if err == nil && body.Disabled != nil {
		if *body.Disabled {
			u, err = h.Service.Disable(r.Context(), actor, id)
		} else {
			u, err = h.Service.Enable(r.Context(), actor, id)
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userToAPI(u))
}

// remove answers DELETE /api/v1/users/{id}.
func (h *Users) remove(w http.ResponseWriter, r *http.Request) {
	if _, err := h.Service.Delete(r.Context(), Caller(r.Context()).Actor, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (h *Users) fail(w http.ResponseWriter, r *http.Request, err error) {
	var verr *user.ValidationError
	switch {
	case errors.Is(err, user.ErrNotFound):
		problem(w, r, http.StatusNotFound, "Not found", "No user with this ID.", nil)
	case errors.Is(err, user.ErrForbidden):
		problem(w, r, http.StatusForbidden, "Forbidden", "Only an Admin, or an organisation owner within their organisation, manages users; only an Admin makes Admins or moves users between organisations.", nil)
	case errors.Is(err, user.ErrLastAdmin):
		problem(w, r, http.StatusConflict, "Conflict", "The last active Admin can be neither disabled, demoted nor deleted.", nil)
	case errors.Is(err, user.ErrSelf):
		problem(w, r, http.StatusConflict, "Conflict", "You cannot disable or delete your own account.", nil)
	case errors.As(err, &verr):
		field := verr.Field
		if field == "org" {
			field = "organization_id"
		}
		problem(w, r, http.StatusUnprocessableEntity, "Invalid request", verr.Message, []FieldError{{field, verr.Message}})
	default:
		h.Logger.ErrorContext(r.Context(), "api: users", "err", err)
		problem(w, r, http.StatusInternalServerError, "Internal error", "The request could not be completed; try again.", nil)
	}
}
