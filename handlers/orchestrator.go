package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"provisioning/eventstore"
	"provisioning/hub"
	"provisioning/projections"
)

// Consistency lets a handler wait for the views to include a write.
// *projections.Runner satisfies it.
type Consistency interface {
	WaitFor(ctx context.Context, seq uint64) error
	WaitForLatest(ctx context.Context) error
	WaitUntil(ctx context.Context, cond func() bool) error
}

// Orchestrator is the API on :9090. Fill the fields, then call Handler.
type Orchestrator struct {
	Store *eventstore.Store
	Tasks *projections.Tasks
	View  Consistency
	// CLI is shown as the start of a task's command.
	CLI string
	// TaskTimeout is recorded in new tasks.
	TaskTimeout time.Duration
	// ReadWait bounds how long a read waits for the view to catch up.
	ReadWait time.Duration
	// CancelWait bounds how long a cancel waits for the task to stop.
	CancelWait time.Duration
	Log        *slog.Logger
	Registry   *prometheus.Registry
	// Idempotency replays answers of POSTs with an Idempotency-Key.
	Idempotency *Idempotency
	// Hub streams events to WebSocket clients; WSOrigins are the origin
	// hosts (beyond this server's own) browsers may connect from; WSPing
	// is the keep-alive interval.
	Hub       *hub.Hub
	WSOrigins []string
	WSPing    time.Duration

	// Access authenticates, authorizes and audits every route but the
	// open ones; nil refuses them all.
	Access *Access
	// Recovery serves checkpoints, rollbacks and restores; nil leaves
	// their routes out.
	Recovery *Recovery

	// Batches is the batch view.
	Batches *projections.Batches
	// Health holds the checks of GET /state/system/health by component.
	Health map[string]HealthCheck
	// Load reports host and process load; nil leaves it out.
	Load LoadSource
	// Webhooks serves /webhooks; nil: no /webhooks routes.
	Webhooks Webhooks
}

// Handler returns the API's router: every route of the orchestrator is in
// this one function.
func (o *Orchestrator) Handler() http.Handler { return o.router(true) }

// UnguardedHandler is the same router without authentication, policies,
// rate limits and audit: the core path alone, for the benchmarks that
// measure it and for embedding behind another gate. app never serves it.
func (o *Orchestrator) UnguardedHandler() http.Handler { return o.router(false) }

func (o *Orchestrator) router(guarded bool) http.Handler {
	r := chi.NewRouter()
	r.Use(outerMiddleware(o.Log, o.Registry, "orchestrator")...)
	if guarded {
		r.Use(o.Access.guard(r))
	}
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed(r))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	r.Get("/openapi.json", serveOpenAPI(OrchestratorAPI))
	r.Group(func(r chi.Router) {
		r.Use(versioned, limitBody, o.Idempotency.Middleware)
		r.Get("/health", o.health)
		r.Get("/tasks", o.listTasks)
		r.Get("/tasks/{id}", o.getTask)
		r.Post("/tasks/{id}/cancel", o.cancelTask)
		r.Post("/workflows/servers/create", submit[serversRequest](o))
		r.Post("/workflows/taskserv/create", submit[taskservRequest](o))
		r.Post("/workflows/cluster/create", submit[clusterRequest](o))
		r.Get("/ws", o.websocket)
		r.Get("/events", o.listEvents)
		r.Get("/state/workflows/{id}/history", o.workflowHistory)
		if o.Recovery != nil {
			r.Post("/rollback/checkpoints", o.createCheckpoint)
			r.Get("/rollback/checkpoints", o.listCheckpoints)
			r.Get("/rollback/checkpoints/{id}", o.getCheckpoint)
			r.Post("/rollback/execute", o.executeRollback)
			r.Post("/rollback/restore/{id}", o.restoreCheckpoint)
			r.Get("/rollback/statistics", o.rollbackStatistics)
		}
		r.Post("/batch/execute", o.executeBatch)
		r.Get("/batch/operations", o.listBatches)
		r.Get("/batch/operations/{id}", o.getBatch)
		r.Post("/batch/operations/{id}/cancel", o.cancelBatch)
		r.Get("/state/workflows/{id}/progress", o.workflowProgress)
		r.Get("/state/workflows/{id}/snapshots", o.workflowSnapshots)
		r.Get("/state/system/metrics", o.systemMetrics)
		r.Get("/state/system/health", o.systemHealth)
		r.Get("/state/statistics", o.statistics)
		if o.Webhooks != nil {
			r.Post("/webhooks", o.createWebhook)
			r.Get("/webhooks", o.listWebhooks)
			r.Get("/webhooks/{id}", o.getWebhook)
			r.Delete("/webhooks/{id}", o.deleteWebhook)
			r.Get("/webhooks/{id}/deliveries", o.listDeliveries)
			r.Post("/webhooks/deliveries/{id}/retry", o.retryDelivery)
		}
	})
	return r
}

func (o *Orchestrator) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, "Orchestrator is healthy")
}

// fresh waits until the views hold everything stored before the request.
func (o *Orchestrator) fresh(r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), o.readWait())
	defer cancel()
	return o.View.WaitForLatest(ctx)
}

func (o *Orchestrator) readWait() time.Duration {
	if o.ReadWait > 0 {
		return o.ReadWait
	}
	return 5 * time.Second
}
