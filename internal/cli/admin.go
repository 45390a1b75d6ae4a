package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/credential"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// withStore runs fn with a migrated store that has the built-in scopes.
func (a *app) withStore(cmd *cobra.Command, fn func(s *store.SQL) error) error {
	s, err := a.openStore(cmd.Context())
	if err != nil {
		return err
	}
	defer s.Close()
	if err := scope.EnsureBuiltin(cmd.Context(), s, time.Now().UTC()); err != nil {
		return err
	}
	return fn(s)
}

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
			}), a.orgsLimitsCmd())
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

func (a *app) findOrg(cmd *cobra.Command, s *store.SQL, name string) (store.Org, error) {
	o, err := s.GetOrgByName(cmd.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return o, fmt.Errorf("no organisation named %q (see: sapient orgs list)", name)
	}
	return o, err
}

func (a *app) usersCmd() *cobra.Command {
	var (
		email, role, orgName string
		passwordStdin        bool
	)
	c := &cobra.Command{Use: "users", Short: "Manage console users"}
	create := a.addJSON(&cobra.Command{
		Use:   "create --email E --role admin|customer [--org NAME] --password-stdin",
		Short: "Create a user; the password is read from standard input",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !passwordStdin {
				return errors.New("--password-stdin is required: pipe the password on standard input")
			}
			line, err := bufio.NewReader(a.stdin).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("no password on standard input")
			}
			password := strings.TrimRight(line, "\r\n")
			return a.withStore(cmd, func(s *store.SQL) error {
				req := user.CreateRequest{Email: email, Password: password, Role: store.Role(role)}
				if orgName != "" {
					if req.Role == store.RoleAdmin {
						return errors.New("an admin belongs to no organisation: drop --org")
					}
					o, err := a.findOrg(cmd, s, orgName)
					if err != nil {
						return err
					}
					req.OrgID = o.ID
				}
				svc := &user.Service{Store: s, Now: time.Now, Rand: rand.Reader}
				u, err := svc.Create(cmd.Context(), access.CLI, req)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"id": u.ID, "email": u.Email, "role": u.Role, "org_id": u.OrgID})
				}
				fmt.Fprintf(a.stdout, "created %s user %s (%s)\n", u.Role, u.Email, u.ID)
				return nil
			})
		},
	})
	create.Flags().StringVar(&email, "email", "", "email address (required)")
	create.Flags().StringVar(&role, "role", "", "admin or customer (required)")
	create.Flags().StringVar(&orgName, "org", "", "organisation name (customers)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	create.MarkFlagRequired("email")
	create.MarkFlagRequired("role")
	c.AddCommand(create)
	return c
}

func (a *app) scopesCmd() *cobra.Command {
	var description string
	c := &cobra.Command{Use: "scopes", Short: "Manage scopes"}
	create := a.addJSON(&cobra.Command{
		Use:   "create NAME [--description D]",
		Short: "Define a scope",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				sc, err := scope.Create(cmd.Context(), s, access.CLI, args[0], description, time.Now().UTC())
				if errors.Is(err, store.ErrAlreadyExists) {
					return fmt.Errorf("scope %q already exists", args[0])
				} else if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"name": sc.Name, "description": sc.Description})
				}
				fmt.Fprintf(a.stdout, "created scope %s\n", sc.Name)
				return nil
			})
		},
	})
	create.Flags().StringVar(&description, "description", "", "what the scope allows")
	c.AddCommand(create, listCmd(a, "List scopes", (*store.SQL).ListScopes, func(sc store.Scope) map[string]any {
		return map[string]any{"name": sc.Name, "description": sc.Description, "builtin": sc.Builtin, "admin_only": sc.AdminOnly}
	}, "NAME\tDESCRIPTION", func(sc store.Scope) []string { return []string{sc.Name, sc.Description} }))
	return c
}

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

	var listOrg string
	list := a.addJSON(&cobra.Command{
		Use:   "list [--org NAME]",
		Short: "List credentials (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				orgs, err := s.ListOrgs(cmd.Context())
				if err != nil {
					return err
				}
				names := map[string]string{}
				for _, o := range orgs {
					names[o.ID] = o.Name
				}
				filter := ""
				if listOrg != "" {
					o, err := a.findOrg(cmd, s, listOrg)
					if err != nil {
						return err
					}
					filter = o.ID
				}
				list, err := service(s).List(cmd.Context(), access.CLI, filter)
				if err != nil {
					return err
				}
				return printList(a, list, func(cr store.Credential) map[string]any { return credentialJSON(cr, names[cr.OrgID]) },
					"CLIENT ID\tNAME\tORGANISATION\tSCOPES\tSTATUS\tCREATED", func(cr store.Credential) []string {
						return []string{cr.ClientID, cr.Name, names[cr.OrgID], strings.Join(cr.Scopes, " "),
							cr.Status(time.Now()), cr.CreatedAt.Format(time.RFC3339)}
					})
			})
		},
	})
	list.Flags().StringVar(&listOrg, "org", "", "only this organisation")

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

// listCmd is a "list" command that prints what load reads from the store.
func listCmd[T any](a *app, short string, load func(*store.SQL, context.Context) ([]T, error),
	toJSON func(T) map[string]any, header string, row func(T) []string) *cobra.Command {
	return a.addJSON(&cobra.Command{
		Use:   "list",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				list, err := load(s, cmd.Context())
				if err != nil {
					return err
				}
				return printList(a, list, toJSON, header, row)
			})
		},
	})
}

// printList prints a listing: with --json an array of objects, else a
// table under header (tab-separated columns).
func printList[T any](a *app, list []T, toJSON func(T) map[string]any, header string, row func(T) []string) error {
	if a.jsonOut {
		out := make([]map[string]any, 0, len(list))
		for _, v := range list {
			out = append(out, toJSON(v))
		}
		return a.printJSON(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, v := range list {
		fmt.Fprintln(tw, strings.Join(row(v), "\t"))
	}
	return tw.Flush()
}

// splitList splits a comma- or space-separated flag value.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
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

func (a *app) keysCmd() *cobra.Command {
	var activateIn time.Duration
	c := &cobra.Command{Use: "keys", Short: "Manage JWT signing keys"}
	rotate := a.addJSON(&cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key: published now, signing after --activate-in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kek, err := a.kek()
			if err != nil {
				return err
			}
			alg, err := keys.ParseAlgorithm(a.env("SAPIENT_SIGNING_ALG", "ES256"))
			if err != nil {
				return err
			}
			return a.withStore(cmd, func(s *store.SQL) error {
				m := &keys.Manager{Store: s, KEK: kek, Algorithm: alg, PublishLead: activateIn, Now: time.Now, Rand: rand.Reader, Actor: access.CLI}
				// Init, not Reload: on a database with no key yet it first
				// makes the key that signs at once, as serve would; otherwise
				// the only key would sign from --activate-in on, and until
				// then the server could issue no token.
				if err := m.Init(cmd.Context()); err != nil {
					return err
				}
				kid, at, err := m.Rotate(cmd.Context())
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"kid": kid, "algorithm": alg, "activates_at": at})
				}
				fmt.Fprintf(a.stdout, "new signing key %s (%s) is published now and signs from %s\n", kid, alg, at.Format(time.RFC3339))
				return nil
			})
		},
	})
	rotate.Flags().DurationVar(&activateIn, "activate-in", 15*time.Minute,
		"how long the new key is published before it signs (longer than verifiers cache the JWKS; 0 for an emergency)")
	list := listCmd(a, "List signing keys", (*store.SQL).ListSigningKeys, func(k store.SigningKey) map[string]any {
		m := map[string]any{"kid": k.ID, "algorithm": k.Algorithm, "created_at": k.CreatedAt, "activates_at": k.ActivatesAt}
		if !k.RetiredAt.IsZero() {
			m["retired_at"] = k.RetiredAt
		}
		return m
	}, "KID\tALGORITHM\tCREATED\tSIGNS FROM\tRETIRED", func(k store.SigningKey) []string {
		retired := ""
		if !k.RetiredAt.IsZero() {
			retired = k.RetiredAt.Format(time.RFC3339)
		}
		return []string{k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), k.ActivatesAt.Format(time.RFC3339), retired}
	})
	c.AddCommand(rotate, list, a.keysRetireCmd())
	return c
}
