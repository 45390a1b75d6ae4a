package console

import (
	"net/http"
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
			break
		}
	}
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
