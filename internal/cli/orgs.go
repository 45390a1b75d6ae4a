package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/store"
)

func (a *app) orgsCmd() *cobra.Command {
	c := &cobra.Command{Use: "orgs", Short: "Manage customer organisations"}
	c.AddCommand(a.addJSON(&cobra.Command{
		Use:   "create NAME",
		Short: "Create an organisation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				o, err := org.Create(cmd.Context(), s, access.CLI, args[0], time.Now().UTC())
				if errors.Is(err, store.ErrAlreadyExists) {
					return fmt.Errorf("an organisation named %q already exists", args[0])
				} else if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(orgJSON(o))
				}
				fmt.Fprintf(a.stdout, "created organisation %s (%s)\n", o.Name, o.ID)
				return nil
			})
		},
	}), listCmd(a, "List organisations", (*store.SQL).ListOrgs, orgJSON, "ID\tNAME\tSCOPES", func(o store.Org) []string {
		return []string{o.ID, o.Name, strings.Join(o.Scopes, " ")}
	}), a.orgScopesCmd("grant", "Let an organisation grant more scopes to its credentials", org.Grant, nil),
		a.orgScopesCmd("withdraw", "Stop an organisation granting scopes; its credentials lose them at once", org.Withdraw,
			func(o store.Org, scopes []string) error {
				for _, sc := range scopes {
					if !slices.Contains(o.Scopes, sc) {
						return fmt.Errorf("%s does not grant %q", o.Name, sc)
					}
				}
				return nil
			}), a.orgsLimitsCmd(), a.orgsLeakActionCmd())
	return c
}

// orgScopesCmd is "grant" or "withdraw": it changes the scopes an
// organisation may grant with change, after check (if any), and prints
// what it may grant then.
func (a *app) orgScopesCmd(verb, short string,
	change func(context.Context, store.Store, access.Actor, string, []string, func() time.Time) (store.Org, error),
	check func(o store.Org, scopes []string) error) *cobra.Command {
	return a.addJSON(&cobra.Command{
		Use:   verb + " NAME SCOPE...",
		Short: short,
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				o, err := a.findOrg(cmd, s, args[0])
				if err != nil {
					return err
				}
				if check != nil {
					if err := check(o, args[1:]); err != nil {
						return err
					}
				}
				if o, err = change(cmd.Context(), s, access.CLI, o.ID, args[1:], time.Now); err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(orgJSON(o))
				}
				fmt.Fprintf(a.stdout, "%s may grant: %s\n", o.Name, strings.Join(o.Scopes, " "))
				return nil
			})
		},
	})
}

func (a *app) orgsLimitsCmd() *cobra.Command {
	var tokenRate, apiRate int
	c := a.addJSON(&cobra.Command{
		Use:   "limits NAME --token-rate N --api-rate N",
		Short: "Set an organisation's per-credential rate limits (requests per second; 0: the server's default)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				o, err := a.findOrg(cmd, s, args[0])
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("token-rate") {
					tokenRate = o.TokenRateLimit
				}
				if !cmd.Flags().Changed("api-rate") {
					apiRate = o.APIRateLimit
				}
				if o, err = org.SetLimits(cmd.Context(), s, access.CLI, o.ID, tokenRate, apiRate, time.Now); err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(orgJSON(o))
				}
				fmt.Fprintf(a.stdout, "%s: token requests %d/s, API calls %d/s per credential (0: server default)\n", o.Name, o.TokenRateLimit, o.APIRateLimit)
				return nil
			})
		},
	})
	c.Flags().IntVar(&tokenRate, "token-rate", 0, "token requests per second per credential")
	c.Flags().IntVar(&apiRate, "api-rate", 0, "API calls per second per credential")
	return c
}

func orgJSON(o store.Org) map[string]any {
	return map[string]any{"id": o.ID, "name": o.Name, "scopes": o.Scopes, "created_at": o.CreatedAt,
		"token_rate_limit": o.TokenRateLimit, "api_rate_limit": o.APIRateLimit}
}

// orgFilter is the ID of the organisation named by a listing's --org, or
// "" (every organisation) when none is named.
func (a *app) orgFilter(cmd *cobra.Command, s *store.SQL, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	o, err := a.findOrg(cmd, s, name)
	return o.ID, err
}

func (a *app) findOrg(cmd *cobra.Command, s *store.SQL, name string) (store.Org, error) {
	o, err := s.GetOrgByName(cmd.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return o, fmt.Errorf("no organisation named %q (see: sapient orgs list)", name)
	}
	return o, err
}
