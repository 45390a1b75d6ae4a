package cli

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/keys"
	"sapient.dev/sapient/internal/store"
)

func (a *app) keysCmd() *cobra.Command {
	var activateIn time.Duration
	c := &cobra.Command{Use: "keys", Short: "Manage JWT signing keys"}
	rotate := a.addJSON(&cobra.Command{
		Use:   "rotate",
		Short: "Create a new signing key: published now, signing after --activate-in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd, func(m *keys.Manager) error {
				m.PublishLead = activateIn
				alg := m.Algorithm
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

// withKeys runs fn with a key manager over the database, acting as the
// CLI, with the key-encryption key and signing algorithm of the
// environment.
func (a *app) withKeys(cmd *cobra.Command, fn func(m *keys.Manager) error) error {
	kek, err := a.kek()
	if err != nil {
		return err
	}
	alg, err := keys.ParseAlgorithm(a.env("SAPIENT_SIGNING_ALG", "ES256"))
	if err != nil {
		return err
	}
	return a.withStore(cmd, func(s *store.SQL) error {
		return fn(&keys.Manager{Store: s, KEK: kek, Algorithm: alg, Now: time.Now, Rand: rand.Reader, Actor: access.CLI})
	})
}
