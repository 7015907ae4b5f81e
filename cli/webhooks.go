package cli

import (
	"fmt"
	"strings"

	"provisioning/client"
)

func runWebhooks(a *app, args []string) error {
	return a.subcommand("webhooks", args, map[string]func(*app, []string) error{
		"ls":         runWebhooksList,
		"list":       runWebhooksList,
		"get":        runWebhooksGet,
		"create":     runWebhooksCreate,
		"delete":     runWebhooksDelete,
		"deliveries": runWebhooksDeliveries,
		"retry":      runWebhooksRetry,
	})
}

func runWebhooksList(a *app, args []string) error {
	fs := a.flags("webhooks ls", "webhooks ls [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	hooks, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.Webhook], error) {
		return a.client.ListWebhooks(a.ctx, o)
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(hooks))
	}
	rows := make([][]string, len(hooks))
	for i, h := range hooks {
		rows[i] = []string{h.ID, h.URL, strings.Join(h.Events, ","), h.Status, orDash(h.Source), when(h.CreatedAt)}
	}
	a.out.table([]string{"ID", "URL", "EVENTS", "STATUS", "SOURCE", "CREATED"}, rows)
	return nil
}

func runWebhooksGet(a *app, args []string) error {
	fs := a.flags("webhooks get", "webhooks get WEBHOOK_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	h, err := a.client.GetWebhook(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(h)
	}
	a.out.fields([][2]string{{"ID", h.ID}, {"URL", h.URL}, {"Events", strings.Join(h.Events, ", ")},
		{"Description", orDash(h.Description)}, {"Status", h.Status}, {"Disabled because", orDash(h.DisabledReason)},
		{"Source", orDash(h.Source)}, {"Created", when(h.CreatedAt)}})
	return nil
}

func runWebhooksCreate(a *app, args []string) error {
	fs := a.flags("webhooks create", "webhooks create --url URL --event EVENT... [--secret SECRET] [--description TEXT]")
	url := fs.String("url", "", "where to POST the events (required)")
	var events listFlag
	fs.Var(&events, "event", "event name (repeat, or comma-separated): task.completed, task.*, batch.completed, *")
	secret := fs.String("secret", "", "signing secret (generated and shown once when empty)")
	desc := fs.String("description", "", "what the endpoint is for")
	key := fs.String("idempotency-key", "", "send this Idempotency-Key")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	if *url == "" || len(events) == 0 {
		return usagef("--url and at least one --event are required")
	}
	h, err := a.client.CreateWebhook(a.ctx, client.WebhookRequest{URL: *url, Events: events, Secret: *secret, Description: *desc},
		client.WithIdempotencyKey(*key))
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(h)
	}
	a.out.fields([][2]string{{"ID", h.ID}, {"URL", h.URL}, {"Events", strings.Join(h.Events, ", ")}, {"Secret", orDash(h.Secret)}})
	if h.Secret != "" {
		fmt.Fprintln(a.env.Stderr, "keep the secret: it is not shown again")
	}
	return nil
}

func runWebhooksDelete(a *app, args []string) error {
	fs := a.flags("webhooks delete", "webhooks delete WEBHOOK_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	return a.message(a.client.DeleteWebhook(a.ctx, pos[0]))
}

func runWebhooksDeliveries(a *app, args []string) error {
	fs := a.flags("webhooks deliveries", "webhooks deliveries WEBHOOK_ID [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	ds, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.Delivery], error) {
		return a.client.WebhookDeliveries(a.ctx, pos[0], o)
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(ds))
	}
	rows := make([][]string, len(ds))
	for i, d := range ds {
		code, errText := "-", ""
		if d.StatusCode != nil {
			code = fmt.Sprint(*d.StatusCode)
		}
		if d.Error != nil {
			errText = *d.Error
		}
		rows[i] = []string{d.ID, d.Event, d.Status, fmt.Sprint(d.Attempt), code, when(d.CreatedAt), orDash(errText)}
	}
	a.out.table([]string{"ID", "EVENT", "STATUS", "ATTEMPTS", "HTTP", "CREATED", "ERROR"}, rows)
	return nil
}

func runWebhooksRetry(a *app, args []string) error {
	fs := a.flags("webhooks retry", "webhooks retry DELIVERY_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	return a.message(a.client.RetryDelivery(a.ctx, pos[0]))
}
