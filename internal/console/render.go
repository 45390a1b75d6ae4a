package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed templates static
var files embed.FS

// pages lists every page template; each is parsed together with the layout.
var pages = []string{
	"login", "home", "credentials", "password", "error",
	"admin_customers", "admin_customer", "admin_users", "admin_scopes",
	"usage", "audit", "webhooks", "webhook",
	"admin_user", "admin_user_delete", "team", "link_created", "forgot", "link",
	"sessions", "twofactor", "login_twofactor", "admin_twofactor", "admin_sso",
}

// views holds the parsed templates and the fingerprints of static files.
type views struct {
	pages  map[string]*template.Template
	static map[string]string // file name → content hash, for cache busting
}

// loadViews parses the templates once for the process: they are embedded
// and never change, and parsing them is a tenth of a second of CPU.
// Executing a parsed template from several consoles at once is safe.
var loadViews = sync.OnceValues(parseViews)

func parseViews() (*views, error) {
	v := &views{pages: map[string]*template.Template{}, static: map[string]string{}}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		v.static[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	funcs := template.FuncMap{
		"static": func(name string) (string, error) {
			h, ok := v.static[name]
			if !ok {
				return "", fmt.Errorf("console: no static file %q", name)
			}
			return "/static/" + name + "?v=" + h, nil
		},
		"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"day":      func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"minute":   func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
		"clock":    func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"contains": func(list []string, s string) bool { return slices.Contains(list, s) },
		"join":     strings.Join,
		"count":    count,
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("console: dict needs key and value pairs")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("console: dict key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		"lower": strings.ToLower,
		"initial": func(s string) string {
			for _, r := range s {
				return strings.ToUpper(string(r))
			}
			return "?"
		},
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/users_table.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	for _, name := range pages {
		t, err := template.Must(base.Clone()).ParseFS(files, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("console: template %s defines no content", name)
		}
		v.pages[name] = t
	}
	return v, nil
}

// page is what the layout template receives.
type page struct {
	Title  string
	Nav    string   // the navigation entry marked as current
	S      *session // nil when nobody is logged in
	Notice string   // a success message at the top of the page
	Data   any      // the page's own data
}

// render writes a page. It renders into a buffer first so that a template
// error becomes a clean error page instead of half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := c.views.pages[name]
	if !ok {
		c.fail(w, r, p.S, fmt.Errorf("console: no page %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		if name == "error" {
			c.log.ErrorContext(r.Context(), "console: render error page", "err", err)
			http.Error(w, "Internal error", http.StatusInternalServerError)
			return
		}
		c.fail(w, r, p.S, fmt.Errorf("console: render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError shows a page with a message the person can act on.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.render(w, r, status, "error", page{Title: http.StatusText(status), S: s, Data: msg})
}

// fail logs an unexpected error and shows a generic error page: the cause
// goes to the log, never to the browser.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	attrs := []any{"method", r.Method, "path", r.URL.Path, "err", err}
	if s != nil {
		attrs = append(attrs, "user", s.User.ID)
	}
	c.log.ErrorContext(r.Context(), "console: request failed", attrs...)
	c.renderError(w, r, s, http.StatusInternalServerError, "Something went wrong on our side. Please try again in a moment.")
}

// static serves the embedded CSS, script and icon. A URL carrying the
// current fingerprint may be cached for a year.
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static/")
	h, ok := c.views.static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == h {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, files, "static/"+name)
}

// formError is a message about a form that is safe to show as it is.
type formError string

func (e formError) Error() string { return string(e) }
