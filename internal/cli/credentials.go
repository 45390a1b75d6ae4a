package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/store"
)

func (a *app) credentialsCmd() *cobra.Command {
	var (
		orgName, name, scopes, expires, allowedIPs string
	)
	c := &cobra.Command{Use: "credentials", Short: "Manage API credentials"}
	service := func(s *store.SQL) *credential.Service {
		return &credential.Service{Store: s, Now: time.Now, Rand: rand.Reader}
	}
	create := a.addJSON(&cobra.Command{
		Use:   "create --org NAME --name N [--scopes \"a b\"] [--expires RFC3339]",
		Short: "Create a credential; prints the client ID and the secret, once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				o, err := a.findOrg(cmd, s, orgName)
				if err != nil {
					return err
				}
				req := credential.CreateRequest{OrgID: o.ID, Name: name, AllowedCIDRs: splitList(allowedIPs)}
				if cmd.Flags().Changed("scopes") {
					req.Scopes = credential.ParseScopes(scopes)
				}
				if expires != "" {
					if req.ExpiresAt, err = time.Parse(time.RFC3339, expires); err != nil {
						return fmt.Errorf("--expires must be an RFC 3339 time such as 2027-01-31T00:00:00Z")
					}
				}
				created, err := service(s).Create(cmd.Context(), access.CLI, req)
				var verr *credential.ValidationError
				if errors.As(err, &verr) {
					return errors.New(verr.Message)
				} else if err != nil {
					return err
				}
				cr := created.Credential
				if a.jsonOut {
					out := credentialJSON(cr, o.Name)
					out["client_secret"] = created.Secret
					return a.printJSON(out)
				}
				fmt.Fprintf(a.stdout, "Client ID: %s\nSecret:    %s\n\nThe secret is not stored and will never be shown again.\n", cr.ClientID, created.Secret)
				return nil
			})
		},
	})
	create.Flags().StringVar(&orgName, "org", "", "organisation name (required)")
	create.Flags().StringVar(&name, "name", "", "a short memorable name (required)")
	create.Flags().StringVar(&scopes, "scopes", "", "space-separated scopes (default: every scope the organisation may grant)")
	create.Flags().StringVar(&expires, "expires", "", "expiry time, RFC 3339 (default: never)")
	create.Flags().StringVar(&allowedIPs, "allowed-ips", "", "addresses or CIDRs the credential may be used from, comma- or space-separated (default: anywhere)")
	create.MarkFlagRequired("org")
	create.MarkFlagRequired("name")

	list := orgListCmd(a, "List credentials (never their secrets)", "only this organisation",
		func(ctx context.Context, s *store.SQL, orgID string) ([]store.Credential, error) {
			return service(s).List(ctx, access.CLI, orgID)
		},
		func(cr store.Credential) string { return cr.OrgID }, credentialJSON,
		"CLIENT ID\tNAME\tORGANISATION\tSCOPES\tSTATUS\tCREATED", func(cr store.Credential, org string) []string {
			return []string{cr.ClientID, cr.Name, org, strings.Join(cr.Scopes, " "),
				cr.Status(time.Now()), cr.CreatedAt.Format(time.RFC3339)}
		})

	revoke := a.addJSON(&cobra.Command{
		Use:   "revoke CLIENT_ID",
		Short: "Revoke a credential: no new tokens, and its tokens are refused everywhere within a second",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				cr, err := service(s).Revoke(cmd.Context(), access.CLI, args[0])
				if err != nil {
					return credentialError(err, args[0])
				}
				if a.jsonOut {
					return a.printJSON(credentialJSON(cr, ""))
				}
				fmt.Fprintf(a.stdout, "revoked %s (%s)\n", cr.ClientID, cr.Name)
				return nil
			})
		},
	})
	c.AddCommand(create, list, revoke, a.credentialsUpdateCmd(service), a.credentialsRollCmd(service))
	return c
}

// credentialError turns service errors into one-line messages.
func credentialError(err error, clientID string) error {
	var verr *credential.ValidationError
	switch {
	case errors.Is(err, credential.ErrNotFound):
		return fmt.Errorf("no credential with client ID %q", clientID)
	case errors.As(err, &verr):
		return errors.New(verr.Message)
	}
	return err
}

func (a *app) credentialsUpdateCmd(service func(*store.SQL) *credential.Service) *cobra.Command {
	var name, scopes, allowedIPs string
	c := a.addJSON(&cobra.Command{
		Use:   "update CLIENT_ID [--name N] [--scopes \"a b\"] [--allowed-ips \"192.0.2.0/24 ...\"]",
		Short: "Rename a credential or change its scopes or allowed addresses",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := credential.UpdateRequest{}
			if cmd.Flags().Changed("name") {
				req.Name = &name
			}
			if cmd.Flags().Changed("scopes") {
				req.Scopes = credential.ParseScopes(scopes)
			}
			if cmd.Flags().Changed("allowed-ips") {
				req.AllowedCIDRs = append([]string{}, splitList(allowedIPs)...)
			}
			if req.Name == nil && req.Scopes == nil && req.AllowedCIDRs == nil {
				return errors.New("nothing to change: give --name, --scopes or --allowed-ips")
			}
			return a.withStore(cmd, func(s *store.SQL) error {
				cr, err := service(s).Update(cmd.Context(), access.CLI, args[0], req)
				if err != nil {
					return credentialError(err, args[0])
				}
				if a.jsonOut {
					return a.printJSON(credentialJSON(cr, ""))
				}
				fmt.Fprintf(a.stdout, "updated %s (%s): scopes %q, allowed addresses %q\n", cr.ClientID, cr.Name,
					strings.Join(cr.Scopes, " "), strings.Join(cr.AllowedCIDRs, " "))
				return nil
			})
		},
	})
	c.Flags().StringVar(&name, "name", "", "new name")
	c.Flags().StringVar(&scopes, "scopes", "", "the complete new set of scopes, space-separated")
	c.Flags().StringVar(&allowedIPs, "allowed-ips", "", "the complete new allow-list (empty: anywhere)")
	return c
}

func (a *app) credentialsRollCmd(service func(*store.SQL) *credential.Service) *cobra.Command {
	var previous time.Duration
	c := a.addJSON(&cobra.Command{
		Use:   "roll CLIENT_ID [--previous-valid 0s|1h|24h|168h]",
		Short: "Give a credential a new secret, printed once; the old one works for --previous-valid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				rolled, err := service(s).Roll(cmd.Context(), access.CLI, args[0], previous)
				if err != nil {
					return credentialError(err, args[0])
				}
				cr := rolled.Credential
				if a.jsonOut {
					out := credentialJSON(cr, "")
					out["client_secret"] = rolled.Secret
					if !cr.PreviousSecretExpiresAt.IsZero() {
						out["previous_secret_expires_at"] = cr.PreviousSecretExpiresAt
					}
					return a.printJSON(out)
				}
				fmt.Fprintf(a.stdout, "Client ID: %s\nSecret:    %s\n\nThe secret is not stored and will never be shown again.\n", cr.ClientID, rolled.Secret)
				if !cr.PreviousSecretExpiresAt.IsZero() {
					fmt.Fprintf(a.stdout, "The previous secret works until %s.\n", cr.PreviousSecretExpiresAt.Format(time.RFC3339))
				} else {
					fmt.Fprintln(a.stdout, "The previous secret no longer works.")
				}
				return nil
			})
		},
	})
	c.Flags().DurationVar(&previous, "previous-valid", 0, "how long the old secret keeps working: 0s (it stops now), 1h, 24h or 168h")
	return c
}

func credentialJSON(c store.Credential, orgName string) map[string]any {
	out := map[string]any{
		"client_id": c.ClientID, "name": c.Name, "org_id": c.OrgID, "scopes": c.Scopes,
		"status": c.Status(time.Now()), "created_at": c.CreatedAt, "created_by": c.CreatedBy,
		"allowed_cidrs": nonNil(c.AllowedCIDRs),
	}
	if orgName != "" {
		out["org"] = orgName
	}
	for k, t := range map[string]time.Time{"last_used_at": c.LastUsedAt, "revoked_at": c.RevokedAt, "expires_at": c.ExpiresAt} {
		if !t.IsZero() {
			out[k] = t
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
