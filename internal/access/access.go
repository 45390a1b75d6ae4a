// Package access names who is acting and decides which organisations they
// may reach. Every path into credential data (console, REST API, CLI) goes
// through Actor.CanReach, so organisation isolation is written once.
package access

import "sapient.dev/sapient/internal/store"

// Kind says how an actor authenticated.
type Kind string

// The ways to act on Sapient.
const (
	KindUser       Kind = "user"       // a person logged in to the console
	KindCredential Kind = "credential" // a bearer token of an API credential
	KindCLI        Kind = "cli"        // the administration CLI, with Admin authority
	KindSystem     Kind = "system"     // Sapient itself, for scheduled work
)

// Actor is whoever makes a request.
type Actor struct {
	Kind  Kind
	ID    string // user ID, client ID, or "cli"
	Label string // email, credential name or "cli", for display and audit
	Role  store.Role
	OrgID string // the organisation of a customer user or a credential
	// Scopes are what a credential actor holds; it may grant no more.
	Scopes []string
	// IP and UserAgent describe the request, for the audit trail.
	IP        string
	UserAgent string
}

// CLI is the actor of the administration CLI.
var CLI = Actor{Kind: KindCLI, ID: "cli", Label: "cli", Role: store.RoleAdmin}

// System is the actor of scheduled work such as key rotation.
var System = Actor{Kind: KindSystem, ID: "sapient", Label: "scheduled"}

// Credential is the actor of an API credential: its bearer token, or its
// client authentication at the token or introspection endpoint. It acts
// within its organisation with the scopes it holds, never as an Admin.
func Credential(clientID, name, orgID string, scopes []string) Actor {
	return Actor{Kind: KindCredential, ID: clientID, Label: name, Role: store.RoleCustomer, OrgID: orgID, Scopes: scopes}
}

// IsAdmin reports whether the actor has Admin authority over every
// organisation.
func (a Actor) IsAdmin() bool {
	return a.Role == store.RoleAdmin && (a.Kind == KindUser || a.Kind == KindCLI)
}

// CanReach reports whether the actor may see or change data of orgID.
func (a Actor) CanReach(orgID string) bool { return a.IsAdmin() || (a.OrgID != "" && a.OrgID == orgID) }

// OrgFilter is the organisation a listing must be limited to: the actor's
// own, unless an Admin asks for one (or, with "", for all).
func (a Actor) OrgFilter(requested string) string {
	if a.IsAdmin() {
		return requested
	}
	return a.OrgID
}
