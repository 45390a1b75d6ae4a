package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/webhook"
)

// webhooksView is the data of the API > Webhooks page.
type webhooksView struct {
	Admin     bool
	Endpoints []webhookRow
	Orgs      []store.Org // Admin: whose endpoint to add
	Events    []string    // the event types the form offers
	Form      webhookForm
	Created   *webhookCreated // the signing secret, shown once after adding
}

type webhookRow struct {
	store.WebhookEndpoint
	OrgName string
}

// webhookForm is the Add endpoint form, kept on an error.
type webhookForm struct {
	URL         string
	Events      []string
	Description string
	OrgID       string
	Error       string
}

type webhookCreated struct {
	ID     string
	URL    string
	Secret string
}

func (c *Console) registerWebhooks(get, post func(string, http.HandlerFunc)) {
	get("/webhooks", c.user(c.webhookList))
	post("/webhooks", c.user(c.webhookCreate))
	get("/webhooks/{id}", c.user(c.webhookShow))
	post("/webhooks/{id}/enabled", c.user(c.webhookEnable))
	post("/webhooks/{id}/delete", c.user(c.webhookDelete))
	post("/webhooks/{id}/deliveries/{delivery}/resend", c.user(c.webhookResend))
}

// webhookList shows the organisation's endpoints and the Add endpoint form.
func (c *Console) webhookList(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := c.webhooksPage(r.Context(), s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	p := page{Title: "Webhooks", Nav: "webhooks", S: s, Data: v}
	if r.URL.Query().Get("deleted") != "" {
		p.Notice = "The webhook endpoint is deleted: it receives no more events."
	}
	c.render(w, r, http.StatusOK, "webhooks", p)
}

func (c *Console) webhooksPage(ctx context.Context, s *session) (*webhooksView, error) {
	v := &webhooksView{Admin: s.Actor.IsAdmin(), Events: webhook.OrgEvents}
	list, err := c.hooks.List(ctx, s.Actor, "")
	if err != nil {
		return nil, err
	}
	names := map[string]string{"": "All organisations (Admin-level)"}
	if v.Admin {
		v.Events = webhook.AdminEvents
		if v.Orgs, err = c.store.ListOrgs(ctx); err != nil {
			return nil, err
		}
		for _, o := range v.Orgs {
			names[o.ID] = o.Name
		}
	}
	for _, e := range list {
		v.Endpoints = append(v.Endpoints, webhookRow{WebhookEndpoint: e, OrgName: names[e.OrgID]})
	}
	return v, nil
}

// webhookCreate adds an endpoint and shows its signing secret, once.
func (c *Console) webhookCreate(w http.ResponseWriter, r *http.Request, s *session) {
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, s, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f := webhookForm{URL: r.PostFormValue("url"), Events: r.PostForm["events"], Description: r.PostFormValue("description")}
	req := webhook.CreateRequest{OrgID: s.Actor.OrgID, URL: f.URL, Events: f.Events, Description: f.Description}
	if s.Actor.IsAdmin() {
		f.OrgID = r.PostFormValue("org")
		req.OrgID = f.OrgID
	}
	created, err := c.hooks.Create(r.Context(), s.Actor, req)
	v, perr := c.webhooksPage(r.Context(), s)
	if perr != nil {
		c.fail(w, r, s, perr)
		return
	}
	var verr *webhook.ValidationError
	switch {
	case errors.As(err, &verr):
		f.Error = verr.Message
		v.Form = f
		c.render(w, r, http.StatusUnprocessableEntity, "webhooks", page{Title: "Webhooks", Nav: "webhooks", S: s, Data: v})
		return
	case err != nil:
		c.fail(w, r, s, err)
		return
	}
	c.log.InfoContext(r.Context(), "console: webhook endpoint added", "endpoint", created.Endpoint.ID, "user", s.User.ID)
	v.Created = &webhookCreated{ID: created.Endpoint.ID, URL: created.Endpoint.URL, Secret: created.Secret}
	w.Header().Set("Cache-Control", "no-store")
	c.render(w, r, http.StatusOK, "webhooks", page{Title: "Webhooks", Nav: "webhooks", S: s, Data: v})
}

// webhookView is the data of one endpoint's page: its deliveries.
type webhookView struct {
	Endpoint   store.WebhookEndpoint
	Deliveries []store.WebhookDelivery
}

// webhookShow shows an endpoint and its deliveries, each with Resend.
func (c *Console) webhookShow(w http.ResponseWriter, r *http.Request, s *session) {
	c.showWebhook(w, r, s, r.PathValue("id"), "")
}

func (c *Console) showWebhook(w http.ResponseWriter, r *http.Request, s *session, id, notice string) {
	e, err := c.hooks.Get(r.Context(), s.Actor, id)
	if errors.Is(err, webhook.ErrNotFound) {
		c.renderError(w, r, s, http.StatusNotFound, "This webhook endpoint does not exist.")
		return
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	list, err := c.hooks.Deliveries(r.Context(), s.Actor, id, 100)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	switch q := r.URL.Query(); {
	case notice != "":
	case q.Get("resent") != "":
		notice = "The delivery is queued again, with the same webhook-id."
	case q.Get("enabled") == "1":
		notice = "The endpoint is enabled: it receives events again."
	case q.Get("enabled") == "0":
		notice = "The endpoint is disabled: it receives no events until enabled."
	}
	c.render(w, r, http.StatusOK, "webhook", page{Title: "Webhook endpoint", Nav: "webhooks", S: s, Notice: notice,
		Data: webhookView{Endpoint: e, Deliveries: list}})
}

// webhookEnable enables or disables an endpoint.
func (c *Console) webhookEnable(w http.ResponseWriter, r *http.Request, s *session) {
	on := r.PostFormValue("enabled") == "1"
	_, err := c.hooks.Update(r.Context(), s.Actor, r.PathValue("id"), webhook.UpdateRequest{Enabled: &on})
	if !c.webhookDone(w, r, s, err) {
		return
	}
	state := "0"
	if on {
		state = "1"
	}
	http.Redirect(w, r, "/webhooks/"+url.PathEscape(r.PathValue("id"))+"?enabled="+state, http.StatusSeeOther)
}

// webhookDelete deletes an endpoint.
func (c *Console) webhookDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.webhookDone(w, r, s, c.hooks.Delete(r.Context(), s.Actor, r.PathValue("id"))) {
		return
	}
	http.Redirect(w, r, "/webhooks?deleted=1", http.StatusSeeOther)
}

// webhookResend queues a delivery again.
func (c *Console) webhookResend(w http.ResponseWriter, r *http.Request, s *session) {
	_, err := c.hooks.Resend(r.Context(), s.Actor, r.PathValue("id"), r.PathValue("delivery"))
	if !c.webhookDone(w, r, s, err) {
		return
	}
	http.Redirect(w, r, "/webhooks/"+url.PathEscape(r.PathValue("id"))+"?resent=1", http.StatusSeeOther)
}

// webhookDone answers a failed change and reports whether it succeeded.
func (c *Console) webhookDone(w http.ResponseWriter, r *http.Request, s *session, err error) bool {
	var verr *webhook.ValidationError
	switch {
	case err == nil:
		return true
	case errors.Is(err, webhook.ErrNotFound):
		c.renderError(w, r, s, http.StatusNotFound, "This webhook endpoint or delivery does not exist.")
	case errors.As(err, &verr):
		c.renderError(w, r, s, http.StatusUnprocessableEntity, verr.Message)
	default:
		c.fail(w, r, s, err)
	}
	return false
}
