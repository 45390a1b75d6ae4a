package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/scope"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/webhook"
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
	// Changes made here report their events like any other: the queue
	// enqueues them with their audit events, and the server delivers.
	if _, err := webhook.NewQueue(webhook.QueueConfig{Store: s}); err != nil {
		return err
	}
	return fn(s)
}

// orgNames maps every organisation's ID to its name, for listings.
func orgNames(ctx context.Context, s *store.SQL) (map[string]string, error) {
	orgs, err := s.ListOrgs(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(orgs))
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	return names, nil
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

// orgListCmd is a "list [--org NAME]" command: what load reads, of one
// organisation with --org and of every one without, each row beside the
// name of its organisation (orgOf).
func orgListCmd[T any](a *app, short, orgHelp string, load func(context.Context, *store.SQL, string) ([]T, error),
	orgOf func(T) string, toJSON func(T, string) map[string]any, header string, row func(T, string) []string) *cobra.Command {
	var orgName string
	cmd := a.addJSON(&cobra.Command{
		Use:   "list [--org NAME]",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				names, err := orgNames(cmd.Context(), s)
				if err != nil {
					return err
				}
				filter, err := a.orgFilter(cmd, s, orgName)
				if err != nil {
					return err
				}
				list, err := load(cmd.Context(), s, filter)
				if err != nil {
					return err
				}
				return printList(a, list, func(v T) map[string]any { return toJSON(v, names[orgOf(v)]) },
					header, func(v T) []string { return row(v, names[orgOf(v)]) })
			})
		},
	})
	cmd.Flags().StringVar(&orgName, "org", "", orgHelp)
	return cmd
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
