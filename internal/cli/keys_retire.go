package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/keys"
)

// keysRetireCmd is `sapient keys retire KID`: a compromised key leaves
// service at once, everywhere.
func (a *app) keysRetireCmd() *cobra.Command {
	cmd := a.addJSON(&cobra.Command{
		Use:   "retire KID",
		Short: "Take a signing key out of service: unpublished, and its tokens refused everywhere within a second",
		Long: "Retire a signing key that may have been compromised. It leaves the JWKS and every token it signed is " +
			"refused, on every instance within a second. When it is the key that signs, a new key is made that " +
			"signs at once.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd, func(m *keys.Manager) error {
				replacement, err := m.Retire(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"kid": args[0], "retired": true, "signing_kid": m.SigningKeyID(), "new_kid": replacement})
				}
				fmt.Fprintf(a.stdout, "signing key %s is retired: no longer published, its tokens are refused\n", args[0])
				if replacement != "" {
					fmt.Fprintf(a.stdout, "new signing key %s signs from now on\n", replacement)
				}
				return nil
			})
		},
	})
	// Keys made before key IDs were drawn to begin with a letter or digit
	// may begin with "-", which reads as a flag.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		if strings.Contains(err.Error(), "unknown shorthand flag") {
			return fmt.Errorf("%w (a key ID that begins with \"-\" goes after --: sapient keys retire -- KID)", err)
		}
		return err
	})
	return cmd
}
