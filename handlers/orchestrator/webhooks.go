package orchestrator

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"provisioning/eventstore"
	"provisioning/handlers"
	"provisioning/webhooks"
)

// Webhooks is what the /webhooks routes need; *webhooks.Service
// satisfies it.
type Webhooks interface {
	Create(ctx context.Context, by webhooks.Caller, req webhooks.Request, opts ...eventstore.AppendOption) (webhooks.Created, error)
	Delete(ctx context.Context, by webhooks.Caller, id string) error
	Retry(ctx context.Context, by webhooks.Caller, deliveryID string) (webhooks.Delivery, error)
	Endpoint(id string) (webhooks.Endpoint, bool)
	Endpoints(offset, limit int) ([]webhooks.Endpoint, int)
	Deliveries(webhookID, status string, offset, limit int) ([]webhooks.Delivery, int)
	// WaitDeliveries waits until the delivery log holds what its stream
	// held when it was called.
	WaitDeliveries(ctx context.Context) error
}

func caller(r *http.Request) webhooks.Caller {
	return webhooks.Caller{Actor: handlers.Actor(r), CorrelationID: handlers.RequestID(r.Context())}
}

// webhookError maps the service's sentinels to client errors.
func webhookError(err error) error {
	switch {
	case errors.Is(err, webhooks.ErrConfigured), errors.Is(err, webhooks.ErrInFlight):
		return handlers.Errorf(http.StatusConflict, "%s", err.Error())
	case errors.Is(err, eventstore.ErrConflict):
		return handlers.Errorf(http.StatusConflict, "it changed meanwhile; read it again and retry")
	}
	return err
}

// createWebhook registers an endpoint; the answer is the only time its
// secret is shown.
func (o *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req webhooks.Request
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	created, err := o.Webhooks.Create(r.Context(), caller(r), req, handlers.Idempotent(r)...)
	if err != nil {
		return webhookError(err)
	}
	w.Header().Set("Location", "/webhooks/"+created.ID)
	return handlers.WriteJSON(w, http.StatusCreated, created)
}

func (o *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	list, total := o.Webhooks.Endpoints(p.Offset, p.Limit)
	return handlers.WritePage(w, r, p, total, list)
}

func (o *API) getWebhook(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	ep, ok := o.Webhooks.Endpoint(id)
	if !ok {
		return handlers.Errorf(http.StatusNotFound, "webhook %s not found", id)
	}
	return handlers.WriteJSON(w, http.StatusOK, ep)
}

func (o *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if err := o.Webhooks.Delete(r.Context(), caller(r), id); err != nil {
		return webhookError(err)
	}
	return handlers.WriteJSON(w, http.StatusOK, "Webhook deleted")
}

func (o *API) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(webhooks.DeliveryStatuses, status) {
		return handlers.Errorf(http.StatusBadRequest, "status must be one of %s, not %q", strings.Join(webhooks.DeliveryStatuses, ", "), status)
	}
	if _, ok := o.Webhooks.Endpoint(id); !ok {
		return handlers.Errorf(http.StatusNotFound, "webhook %s not found", id)
	}
	// The log is folded from PROV_DELIVERIES, beside the views the route's
	// read-your-writes waits for.
	ctx, cancel := context.WithTimeout(r.Context(), handlers.ReadWait(o.ReadWait))
	defer cancel()
	if err := o.Webhooks.WaitDeliveries(ctx); err != nil {
		return err
	}
	list, total := o.Webhooks.Deliveries(id, status, p.Offset, p.Limit)
	return handlers.WritePage(w, r, p, total, list)
}

// retryDelivery queues one more round of attempts of a delivery; the
// answer is the delivery, now pending.
func (o *API) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	d, err := o.Webhooks.Retry(r.Context(), caller(r), id)
	if err != nil {
		return webhookError(err)
	}
	return handlers.WriteJSON(w, http.StatusAccepted, d)
}
