package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
)

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
