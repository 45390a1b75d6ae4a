package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/org"
	"sapient.dev/sapient/internal/store"
)

// orgsLeakActionCmd shows or chooses what a reported leak of one of an
// organisation's secrets does: revoke the credential, or roll its secret
// with no overlap.
func (a *app) orgsLeakActionCmd() *cobra.Command {
	return a.addJSON(&cobra.Command{
		Use:   "leak-action NAME [revoke|roll]",
		Short: "Show or choose what a reported leak of a secret does: revoke the credential (default) or roll its secret",
		Long: `Show or choose what a leaked secret reported to POST /leaks or POST /leaks/github
does to an organisation's credential:

  revoke  the credential is revoked (the default)
  roll    the credential gets a new secret that nobody is shown, with no overlap:
          the leaked secret stops at once, and the owner rolls the secret again
          (console, API or "sapient credentials roll") to get one to use`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				o, err := a.findOrg(cmd, s, args[0])
				if err != nil {
					return err
				}
				if len(args) == 2 {
					if err := org.SetLeakAction(cmd.Context(), s, access.CLI, o.ID, args[1], time.Now); err != nil {
						return err
					}
				}
				action, err := org.LeakAction(cmd.Context(), s, access.CLI, o.ID)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"id": o.ID, "name": o.Name, "leak_action": action})
				}
				what := "revokes the credential"
				if action == store.LeakRoll {
					what = "rolls the credential's secret, with no overlap"
				}
				fmt.Fprintf(a.stdout, "%s: a reported leak of a secret %s\n", o.Name, what)
				return nil
			})
		},
	})
}
