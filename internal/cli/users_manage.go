package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/user"
)

// userJSON is how the CLI prints a user: never a password hash.
func userJSON(u store.User) map[string]any {
	out := map[string]any{"id": u.ID, "email": u.Email, "role": u.Role, "org_id": u.OrgID, "owner": u.Owner,
		"disabled": u.Disabled(), "created_at": u.CreatedAt}
	if !u.LastLoginAt.IsZero() {
		out["last_login_at"] = u.LastLoginAt
	}
	return out
}

// userError turns the user service's refusals into one clear line.
func userError(email string, err error) error {
	switch {
	case errors.Is(err, user.ErrNotFound):
		return fmt.Errorf("no user with email %q (see: sapient users list)", email)
	case errors.Is(err, user.ErrLastAdmin):
		return fmt.Errorf("%s is the last active Admin: they can be neither disabled, demoted nor deleted; make another Admin first", email)
	}
	var verr *user.ValidationError
	if errors.As(err, &verr) {
		return errors.New(verr.Message)
	}
	return err
}

func (a *app) userService(s *store.SQL) *user.Service {
	return &user.Service{Store: s, Now: time.Now, Rand: rand.Reader, Password: a.password}
}

// userAction is what "disable", "enable" or "delete" does to one user.
type userAction func(svc *user.Service, ctx context.Context, actor access.Actor, id string) (store.User, error)

// usersStateCmd is "disable", "enable" or "delete" of one user by email.
func (a *app) usersStateCmd(verb, short string, do userAction) *cobra.Command {
	return a.addJSON(&cobra.Command{
		Use:   verb + " EMAIL",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				svc := a.userService(s)
				u, err := svc.GetByEmail(cmd.Context(), access.CLI, args[0])
				if err != nil {
					return userError(args[0], err)
				}
				if u, err = do(svc, cmd.Context(), access.CLI, u.ID); err != nil {
					return userError(args[0], err)
				}
				if a.jsonOut {
					return a.printJSON(userJSON(u))
				}
				fmt.Fprintf(a.stdout, "%sd user %s (%s)\n", verb, u.Email, u.ID)
				return nil
			})
		},
	})
}

func (a *app) usersDisableCmd() *cobra.Command {
	return a.usersStateCmd("disable", "Disable a user: their sessions end at once and they cannot log in; their organisation's credentials keep working",
		(*user.Service).Disable)
}

func (a *app) usersEnableCmd() *cobra.Command {
	return a.usersStateCmd("enable", "Let a disabled user log in again", (*user.Service).Enable)
}

func (a *app) usersDeleteCmd() *cobra.Command {
	return a.usersStateCmd("delete", "Delete a user; the audit trail keeps what they did, by email", (*user.Service).Delete)
}

func (a *app) usersUpdateCmd() *cobra.Command {
	var role, orgName, owner string
	c := a.addJSON(&cobra.Command{
		Use:   "update EMAIL [--role R] [--org NAME] [--owner=true|false]",
		Short: "Change a user's role, organisation or owner flag",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req user.UpdateRequest
			if cmd.Flags().Changed("role") {
				r := store.Role(role)
				if r != store.RoleAdmin && r != store.RoleCustomer {
					return fmt.Errorf("--role must be admin or customer, not %q", role)
				}
				req.Role = &r
			}
			if cmd.Flags().Changed("owner") {
				b, err := strconv.ParseBool(owner)
				if err != nil {
					return fmt.Errorf("--owner must be true or false, not %q", owner)
				}
				req.Owner = &b
			}
			if req.Role == nil && req.Owner == nil && !cmd.Flags().Changed("org") {
				return errors.New("nothing to change: give --role, --org or --owner")
			}
			return a.withStore(cmd, func(s *store.SQL) error {
				if cmd.Flags().Changed("org") {
					o, err := a.findOrg(cmd, s, orgName)
					if err != nil {
						return err
					}
					req.OrgID = &o.ID
				}
				svc := a.userService(s)
				u, err := svc.GetByEmail(cmd.Context(), access.CLI, args[0])
				if err != nil {
					return userError(args[0], err)
				}
				if u, err = svc.Update(cmd.Context(), access.CLI, u.ID, req); err != nil {
					return userError(args[0], err)
				}
				if a.jsonOut {
					return a.printJSON(userJSON(u))
				}
				fmt.Fprintf(a.stdout, "updated user %s: %s, organisation %q, owner %t\n", u.Email, u.Role, u.OrgID, u.Owner)
				return nil
			})
		},
	})
	c.Flags().StringVar(&role, "role", "", "admin or customer")
	c.Flags().StringVar(&orgName, "org", "", "organisation name (customers)")
	c.Flags().StringVar(&owner, "owner", "", "true or false: whether a customer owns their organisation")
	c.Flags().Lookup("owner").NoOptDefVal = "true"
	return c
}

// linkTarget is where the CLI's links point and how it mails them: the
// issuer (--issuer, or SAPIENT_ISSUER), and SAPIENT_SMTP_URL when set.
type linkTarget struct{ issuer string }

func (a *app) addIssuer(c *cobra.Command, t *linkTarget) {
	def := a.getenv("SAPIENT_ISSUER")
	if def == "" {
		def = "http://" + a.env("SAPIENT_ADDR", "localhost:8080")
	}
	c.Flags().StringVar(&t.issuer, "issuer", def, "the server's public base URL, which links start with (env SAPIENT_ISSUER)")
}

// deliver prints a one-time link and mails it too when SAPIENT_SMTP_URL
// is set. A mail that fails is reported, after the link is printed.
func (a *app) deliver(cmd *cobra.Command, t linkTarget, purpose string, u store.User, token string) error {
	link := user.LinkURL(t.issuer, token)
	var mailer *mail.Mailer
	if raw := a.getenv("SAPIENT_SMTP_URL"); raw != "" {
		var err error
		if mailer, err = mail.New(raw, a.getenv("SAPIENT_SMTP_FROM"), t.issuer); err != nil {
			return fmt.Errorf("SAPIENT_SMTP_URL: %w (the link was not made public; nothing was printed)", err)
		}
	}
	var mailErr error
	mailed := false
	if mailer != nil {
		mailErr = mailer.Send(cmd.Context(), mail.LinkMessage(purpose, u.Email, link))
		mailed = mailErr == nil
	}
	if a.jsonOut {
		out := userJSON(u)
		out["link"], out["mailed"] = link, mailed
		if err := a.printJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "one-time link for %s (shown once):\n%s\n", u.Email, link)
		if mailed {
			fmt.Fprintf(a.stdout, "mailed to %s\n", u.Email)
		}
	}
	if mailErr != nil {
		return fmt.Errorf("the link was printed but not mailed: %w", mailErr)
	}
	return nil
}

func (a *app) usersInviteCmd() *cobra.Command {
	var (
		email, role, orgName string
		owner                bool
		target               linkTarget
	)
	c := a.addJSON(&cobra.Command{
		Use:   "invite --email E --role admin|customer [--org NAME] [--owner] --json",
		Short: "Invite a user: prints a one-time link (valid 72 hours) with which they choose their password",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.getenv("SAPIENT_SMTP_URL") != "" {
				if _, err := mail.New(a.getenv("SAPIENT_SMTP_URL"), a.getenv("SAPIENT_SMTP_FROM"), target.issuer); err != nil {
					return fmt.Errorf("SAPIENT_SMTP_URL: %w", err)
				}
			}
			return a.withStore(cmd, func(s *store.SQL) error {
				req := user.InviteRequest{Email: email, Role: store.Role(role), Owner: owner}
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
				if owner && req.Role != store.RoleCustomer {
					return errors.New("only a customer owns an organisation: drop --owner")
				}
				u, token, err := a.userService(s).Invite(cmd.Context(), access.CLI, req)
				if err != nil {
					return userError(email, err)
				}
				return a.deliver(cmd, target, mail.Invite, u, token)
			})
		},
	})
	c.Flags().StringVar(&email, "email", "", "email address (required)")
	c.Flags().StringVar(&role, "role", "", "admin or customer (required)")
	c.Flags().StringVar(&orgName, "org", "", "organisation name (customers)")
	c.Flags().BoolVar(&owner, "owner", false, "the customer owns their organisation: invites, disables and enables its users")
	a.addIssuer(c, &target)
	c.MarkFlagRequired("email")
	c.MarkFlagRequired("role")
	return c
}

func (a *app) usersResetLinkCmd() *cobra.Command {
	var target linkTarget
	c := a.addJSON(&cobra.Command{
		Use:   "reset-link EMAIL --json",
		Short: "Make a password reset link (valid 1 hour, used once) for a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.getenv("SAPIENT_SMTP_URL") != "" {
				if _, err := mail.New(a.getenv("SAPIENT_SMTP_URL"), a.getenv("SAPIENT_SMTP_FROM"), target.issuer); err != nil {
					return fmt.Errorf("SAPIENT_SMTP_URL: %w", err)
				}
			}
			return a.withStore(cmd, func(s *store.SQL) error {
				svc := a.userService(s)
				u, err := svc.GetByEmail(cmd.Context(), access.CLI, args[0])
				if err != nil {
					return userError(args[0], err)
				}
				u, token, err := svc.ResetLink(cmd.Context(), access.CLI, u.ID)
				if err != nil {
					return userError(args[0], err)
				}
				return a.deliver(cmd, target, mail.Reset, u, token)
			})
		},
	})
	a.addIssuer(c, &target)
	return c
}
