package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/resource"
	"sapient.dev/sapient/internal/store"
)

// resourcesCmd is `sapient resources`: the APIs tokens may be issued for
// (RFC 8707).
func (a *app) resourcesCmd() *cobra.Command {
	var description string
	c := &cobra.Command{Use: "resources", Short: "Manage the APIs tokens may be issued for (RFC 8707 resource indicators)"}
	create := a.addJSON(&cobra.Command{
		Use:   "create URL [--description D]",
		Short: "Register an API: a token request naming its URL as resource gets it as the token's aud",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				r, err := resource.Register(cmd.Context(), s, access.CLI, args[0], description, time.Now())
				if errors.Is(err, resource.ErrExists) {
					return fmt.Errorf("resource %s is registered already", args[0])
				} else if err != nil {
					return err
				}
				if a.jsonOut {
					return a.printJSON(map[string]any{"resource": r.URI, "description": r.Description, "created_at": r.CreatedAt})
				}
				fmt.Fprintf(a.stdout, "registered resource %s\n", r.URI)
				return nil
			})
		},
	})
	create.Flags().StringVar(&description, "description", "", "what the API is")
	c.AddCommand(create, listCmd(a, "List the registered resources", (*store.SQL).ListResources, func(r store.Resource) map[string]any {
		return map[string]any{"resource": r.URI, "description": r.Description, "created_at": r.CreatedAt}
	}, "RESOURCE\tDESCRIPTION", func(r store.Resource) []string { return []string{r.URI, r.Description} }))
	return c
}
