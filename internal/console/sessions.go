package console

import (
	"errors"
	"net/http"
	"time"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// sessionsView is the data of Account > Sessions.
type sessionsView struct {
	Rows  []sessionRow
	Error string
}

// sessionRow is one session in the list.
type sessionRow struct {
	Handle    string
	Browser   string
	UserAgent string
	IP        string
	CreatedAt time.Time
	LastSeen  time.Time
	Current   bool
}

// sessionList shows the person's sessions, this one first.
func (c *Console) sessionList(w http.ResponseWriter, r *http.Request, s *session) {
	p := page{Title: "Sessions", Nav: "sessions", S: s}
	switch r.URL.Query().Get("ended") {
	case "one":
		p.Notice = "The session has ended."
	case "others":
		p.Notice = "Every other session of yours has ended."
	}
	c.renderSessions(w, r, http.StatusOK, p, "")
}

func (c *Console) renderSessions(w http.ResponseWriter, r *http.Request, status int, p page, msg string) {
	list, err := c.sessions.List(r.Context(), p.S.User)
	if err != nil {
		c.fail(w, r, p.S, err)
		return
	}
	current := user.SessionID(p.S.token)
	v := sessionsView{Error: msg}
	for _, se := range list {
		row := sessionRow{Handle: user.SessionHandle(se), Browser: user.Browser(se.UserAgent), UserAgent: se.UserAgent,
			IP: se.IP, CreatedAt: se.CreatedAt, LastSeen: se.LastSeenAt, Current: se.ID == current}
		if row.Current {
			v.Rows = append([]sessionRow{row}, v.Rows...)
		} else {
			v.Rows = append(v.Rows, row)
		}
	}
	p.Data = v
	c.render(w, r, status, "sessions", p)
}

// sessionEnd ends one session of the person. A session that is not
// theirs (another person's, or none at all) gets the same answer as one
// that has ended already, and nothing changes.
func (c *Console) sessionEnd(w http.ResponseWriter, r *http.Request, s *session) {
	handle := r.PostFormValue("session")
	if handle == user.SessionHandle(store.Session{ID: user.SessionID(s.token)}) {
		c.renderSessions(w, r, http.StatusUnprocessableEntity, page{Title: "Sessions", Nav: "sessions", S: s},
			"This is the session you are using. To end it, log out.")
		return
	}
	err := c.sessions.EndOne(r.Context(), s.Actor, handle)
	if errors.Is(err, user.ErrUnknownSession) {
		c.renderSessions(w, r, http.StatusNotFound, page{Title: "Sessions", Nav: "sessions", S: s},
			"That session is not one of yours, or it has ended already. The list below is up to date.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/account/sessions?ended=one", http.StatusSeeOther)
}

// sessionEndOthers ends every session of the person but this one.
func (c *Console) sessionEndOthers(w http.ResponseWriter, r *http.Request, s *session) {
	n, err := c.sessions.EndOthers(r.Context(), s.Actor, s.token)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: other sessions ended", "user", s.User.ID, "count", n)
	http.Redirect(w, r, "/account/sessions?ended=others", http.StatusSeeOther)
}
