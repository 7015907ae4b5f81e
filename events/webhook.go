package events

import "time"

// Webhook aggregates. AggWebhook is an endpoint of the registry (few events:
// registered, disabled, enabled, deleted), so optimistic appends to it do
// not contend with deliveries. AggWebhookDelivery is one delivery of one
// event to one endpoint; its id is the webhook-id the receiver sees.
const (
	AggWebhook         Aggregate = "webhook"
	AggWebhookDelivery Aggregate = "webhook_delivery"
)

// Webhook events. They are bookkeeping: never streamed to WebSocket
// clients, never delivered as webhooks themselves.
const (
	WebhookRegistered             Type = "WebhookRegistered"
	WebhookDisabled               Type = "WebhookDisabled"
	WebhookEnabled                Type = "WebhookEnabled"
	WebhookDeleted                Type = "WebhookDeleted"
	WebhookDeliveryAttempted      Type = "WebhookDeliveryAttempted"
	WebhookDeliveryRetryRequested Type = "WebhookDeliveryRetryRequested"
)

func init() {
	register(AggWebhook, WebhookRegistered, WebhookDisabled, WebhookEnabled, WebhookDeleted)
	register(AggWebhookDelivery, WebhookDeliveryAttempted, WebhookDeliveryRetryRequested)
	// Delivery records are operational, not what happened to workflows:
	// they have a stream of their own, with a retention.
	aggregateStream[AggWebhookDelivery] = DeliveriesStream
}

// Where a webhook endpoint was defined.
const (
	WebhookSourceAPI    = "api"
	WebhookSourceConfig = "config"
)

// WebhookRegisteredData registers an endpoint, or re-registers a config
// endpoint whose settings changed. SealedSecret is the HMAC key, sealed
// with the deployment's secrets key (package secrets); it is stored here
// so every instance and every restart signs with it, and it is never
// shown again after the answer to the POST that created it. Secret, the
// key in the clear, is only in events written before sealing existed and
// is still read.
type WebhookRegisteredData struct {
	WebhookID    string   `json:"webhook_id"`
	URL          string   `json:"url"`
	Events       []string `json:"events"`
	SealedSecret string   `json:"sealed_secret,omitempty"`
	Secret       string   `json:"secret,omitempty"`
	Description  string   `json:"description,omitempty"`
	Source       string   `json:"source"`
}

// WebhookDisabledData says an endpoint stopped receiving deliveries,
// and why (it kept failing).
type WebhookDisabledData struct {
	WebhookID    string    `json:"webhook_id"`
	Reason       string    `json:"reason"`
	Failures     int       `json:"failures"`
	FailingSince time.Time `json:"failing_since"`
}

// WebhookEnabledData puts a disabled endpoint back in service.
type WebhookEnabledData struct {
	WebhookID string `json:"webhook_id"`
	Reason    string `json:"reason,omitempty"`
}

// WebhookDeletedData removes an endpoint; its queued deliveries are
// dropped.
type WebhookDeletedData struct {
	WebhookID string `json:"webhook_id"`
}

// Outcomes of a delivery attempt.
const (
	DeliveryDelivered = "delivered" // 2xx: done
	DeliveryRetrying  = "retrying"  // failed, another attempt at NextRetryAt
	DeliveryFailed    = "failed"    // failed, no more attempts: retry by hand
)

// WebhookDeliveryAttemptedData records one HTTP attempt of a delivery.
type WebhookDeliveryAttemptedData struct {
	DeliveryID  string     `json:"delivery_id"`
	WebhookID   string     `json:"webhook_id"`
	Event       string     `json:"event"`
	EventID     string     `json:"event_id"`
	EventSeq    uint64     `json:"event_seq"`
	Attempt     int        `json:"attempt"`
	Outcome     string     `json:"outcome"`
	StatusCode  int        `json:"status_code,omitempty"`
	LatencyMS   float64    `json:"latency_ms"`
	Error       string     `json:"error,omitempty"`
	NextRetryAt *time.Time `json:"next_retry_at,omitempty"`
}

// WebhookDeliveryRetryRequestedData asks for one more round of attempts
// of a delivery by hand: now, whether it failed, was delivered, or waits
// for its next automatic attempt. The webhook dispatcher turns it into a
// job; Attempts is how many attempts the delivery had, so numbering goes
// on; Round numbers the retries by hand of the delivery (from 1): jobs of
// an earlier round still waiting out their backoff are superseded.
type WebhookDeliveryRetryRequestedData struct {
	DeliveryID string `json:"delivery_id"`
	WebhookID  string `json:"webhook_id"`
	Event      string `json:"event"`
	EventID    string `json:"event_id"`
	EventSeq   uint64 `json:"event_seq"`
	Attempts   int    `json:"attempts"`
	Round      int    `json:"round,omitempty"`
}
