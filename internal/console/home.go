package console

import (
	"net/http"
	"slices"
	"time"

	"sapient.dev/sapient/internal/webhook"
)

// homeView is the data of the Home page.
type homeView struct {
	OrgName        string // the customer's organisation; empty for an Admin
	HasCredentials bool   // any active credentials in what the person sees
	Customers      int    // Admin only: number of organisations
	TokenURL       string
	MeURL          string
	TokenCurl      string
	MeCurl         string
	// Expiring are the active credentials that expire within 7 days,
	// soonest first: the banner asks to replace them.
	Expiring []expiringCredential
}

// expiringCredential is one line of the Home page's expiry banner.
type expiringCredential struct {
	Name, OrgName string
	In            string // for example "Expires in 3 days"
	At            time.Time
}

// home greets the person, nudges a first-time user to create credentials,
// and shows how software gets a token.
func (c *Console) home(w http.ResponseWriter, r *http.Request, s *session) {
	list, err := c.creds.List(r.Context(), s.Actor, "")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := homeView{
		OrgName:  s.Org.Name,
		TokenURL: c.issuer + "/connect/token",
		MeURL:    c.issuer + "/api/v1/me",
	}
	now := c.now()
	for _, cr := range list {
		if cr.Active(now) {
			v.HasCredentials = true
		}
		if webhook.ExpiresSoon(cr, now) {
			v.Expiring = append(v.Expiring, expiringCredential{Name: cr.Name, In: expiresIn(cr.ExpiresAt.Sub(now)), At: cr.ExpiresAt})
		}
	}
	slices.SortStableFunc(v.Expiring, func(a, b expiringCredential) int { return a.At.Compare(b.At) })
	if s.Actor.IsAdmin() {
		orgs, err := c.store.ListOrgs(r.Context())
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v.Customers = len(orgs)
	}
	v.TokenCurl, v.MeCurl = tokenCurl(v.TokenURL), meCurl(v.MeURL)
	c.render(w, r, http.StatusOK, "home", page{Title: "Home", Nav: "home", S: s, Data: v})
}

// tokenCurl asks for a token with the client credentials grant (RFC 6749
// §4.4.2), authenticating with HTTP Basic (client_secret_basic, §2.3.1).
func tokenCurl(tokenURL string) string {
	return "curl -s -u \"$CLIENT_ID:$CLIENT_SECRET\" \\\n" +
		"  -d grant_type=client_credentials \\\n" +
		"  " + tokenURL
}

// meCurl calls the API with a bearer token (RFC 6750 §2.1).
func meCurl(meURL string) string {
	return "curl -s -H \"Authorization: Bearer $ACCESS_TOKEN\" \\\n  " + meURL
}
