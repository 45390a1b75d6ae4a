package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"sapient.dev/sapient/internal/access"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/webhook"
)

func (a *app) webhooksCmd() *cobra.Command {
	c := &cobra.Command{Use: "webhooks", Short: "Manage webhook endpoints"}
	service := func(s *store.SQL, allowPrivate bool) (*webhook.Service, error) {
		kek, err := a.kek()
		if err != nil {
			return nil, err
		}
		return &webhook.Service{Store: s, KEK: kek, Now: time.Now, Rand: rand.Reader, AllowPrivate: allowPrivate}, nil
	}
	fail := func(err error) error {
		var verr *webhook.ValidationError
		switch {
		case errors.As(err, &verr):
			return errors.New(verr.Message)
		case errors.Is(err, webhook.ErrNotFound):
			return errors.New("no such webhook endpoint")
		}
		return err
	}

	var orgName, url, events, description string
	var allowPrivate bool
	create := a.addJSON(&cobra.Command{
		Use:   "create [--org NAME] --url URL --events \"a b\" [--description D]",
		Short: "Add a webhook endpoint; prints its signing secret, once (without --org: an Admin-level endpoint)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				req := webhook.CreateRequest{URL: url, Events: webhook.ParseEvents(events), Description: description}
				orgLabel := ""
				if orgName != "" {
					o, err := a.findOrg(cmd, s, orgName)
					if err != nil {
						return err
					}
					req.OrgID, orgLabel = o.ID, o.Name
				}
				svc, err := service(s, allowPrivate)
				if err != nil {
					return err
				}
				created, err := svc.Create(cmd.Context(), access.CLI, req)
				if err != nil {
					return fail(err)
				}
				if a.jsonOut {
					out := webhookJSON(created.Endpoint, orgLabel)
					out["signing_secret"] = created.Secret
					return a.printJSON(out)
				}
				fmt.Fprintf(a.stdout, "Endpoint:       %s\nSigning secret: %s\n\nThe signing secret will never be shown again.\n", created.Endpoint.ID, created.Secret)
				return nil
			})
		},
	})
	create.Flags().StringVar(&orgName, "org", "", "organisation name (default: an Admin-level endpoint, for every organisation's and the platform's events)")
	create.Flags().StringVar(&url, "url", "", "the https URL that receives the events (required)")
	create.Flags().StringVar(&events, "events", "", "space-separated event types, for example \"credential.created credential.revoked\" (required)")
	create.Flags().StringVar(&description, "description", "", "what the endpoint is for")
	create.Flags().BoolVar(&allowPrivate, "allow-private", a.getenv("SAPIENT_WEBHOOKS_ALLOW_PRIVATE") == "1" || a.getenv("SAPIENT_WEBHOOKS_ALLOW_PRIVATE") == "true",
		"accept http and loopback or private targets, as serve --webhooks-allow-private delivers to (env SAPIENT_WEBHOOKS_ALLOW_PRIVATE)")
	create.MarkFlagRequired("url")
	create.MarkFlagRequired("events")

	list := orgListCmd(a, "List webhook endpoints (never their secrets)", "only this organisation's endpoints",
		func(ctx context.Context, s *store.SQL, orgID string) ([]store.WebhookEndpoint, error) {
			if orgID == "" {
				return s.ListWebhookEndpoints(ctx)
			}
			return s.ListWebhookEndpoints(ctx, orgID)
		},
		func(e store.WebhookEndpoint) string { return e.OrgID }, webhookJSON,
		"ID\tORGANISATION\tURL\tEVENTS\tSTATUS", func(e store.WebhookEndpoint, org string) []string {
			status := "enabled"
			if !e.DisabledAt.IsZero() {
				status = "disabled"
			}
			if e.OrgID == "" {
				org = "(Admin-level)"
			}
			return []string{e.ID, org, e.URL, strings.Join(e.Events, " "), status}
		})

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a webhook endpoint and its deliveries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(s *store.SQL) error {
				svc, err := service(s, false)
				if err != nil {
					return err
				}
				if err := svc.Delete(cmd.Context(), access.CLI, args[0]); err != nil {
					return fail(err)
				}
				fmt.Fprintf(a.stdout, "Webhook endpoint %s deleted.\n", args[0])
				return nil
			})
		},
	}
	c.AddCommand(create, list, del)
	return c
}

func webhookJSON(e store.WebhookEndpoint, orgName string) map[string]any {
	out := map[string]any{
		"id": e.ID, "organization_id": e.OrgID, "organization": orgName, "url": e.URL, "events": e.Events,
		"description": e.Description, "enabled": e.DisabledAt.IsZero(), "created_at": e.CreatedAt.UTC(),
	}
	if !e.DisabledAt.IsZero() {
		out["disabled_at"], out["disabled_reason"] = e.DisabledAt.UTC(), e.DisabledReason
	}
	return out
}
