package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

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
				svc := a.userService(s)
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
	c.AddCommand(create, a.usersInviteCmd(), a.usersResetLinkCmd(), a.usersUpdateCmd(),
		a.usersDisableCmd(), a.usersEnableCmd(), a.usersDeleteCmd(),
		a.usersListCmd())
	return c
}

// usersListCmd lists every user with their organisation's name and
// whether they have a second factor, as Admin > Users shows them.
func (a *app) usersListCmd() *cobra.Command {
	return a.addJSON(&cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				users, err := s.ListUsers(cmd.Context())
				if err != nil {
					return err
				}
				names, err := orgNames(cmd.Context(), s)
				if err != nil {
					return err
				}
				twoFactor, err := s.TwoFactorUsers(cmd.Context())
				if err != nil {
					return err
				}
				toJSON := func(u store.User) map[string]any {
					out := userJSON(u)
					out["two_factor"] = twoFactor[u.ID]
					if u.OrgID != "" {
						out["org"] = names[u.OrgID]
					}
					return out
				}
				return printList(a, users, toJSON, "EMAIL\tROLE\tORGANISATION\tOWNER\tTWO-FACTOR\tSTATUS", func(u store.User) []string {
					org, status := names[u.OrgID], "active"
					if org == "" {
						org = "-"
					}
					switch {
					case u.Disabled():
						status = "disabled"
					case u.Invited():
						status = "invited"
					}
					return []string{u.Email, string(u.Role), org, yesNo(u.Owner), yesNo(twoFactor[u.ID]), status}
				})
			})
		},
	})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
