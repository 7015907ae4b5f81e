package orchestrator

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"provisioning/eventstore"
	"provisioning/handlers"
	"provisioning/hub"
	"provisioning/projections"
	"provisioning/workflow"
)

// API is the orchestrator API on :9090. Fill the fields, then call
// Handler.
type API struct {
	Store *eventstore.Store
	Tasks *projections.Tasks
	View  handlers.Consistency
	// CLI is shown as the start of a task's command.
	CLI string
	// TaskTimeout is recorded in new tasks.
	TaskTimeout time.Duration
	// Rules are the operator's validation choices (the settings root).
	Rules workflow.Rules
	// ReadWait bounds how long a read waits for the view to catch up.
	ReadWait time.Duration
	// CancelWait bounds how long a cancel waits for the task to stop.
	CancelWait time.Duration
	Log        *slog.Logger
	Registry   *prometheus.Registry
	// Idempotency replays answers of POSTs with an Idempotency-Key.
	Idempotency *handlers.Idempotency
	// Hub streams events to WebSocket clients; WSOrigins are the origin
	// hosts (beyond this server's own) browsers may connect from; WSPing
	// is the keep-alive interval.
	Hub       *hub.Hub
	WSOrigins []string
	WSPing    time.Duration
	// CORS says which pages of other origins may call the API and open
	// /ws (the dashboard's, and --cors-origins); nil: none.
	CORS *handlers.CORS

	// Access authenticates, authorizes and audits every route but the
	// open ones; nil refuses them all.
	Access *handlers.Access
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

// Handler returns the API's router: every route of the orchestrator, and
// how it is protected, is in this one function.
func (o *API) Handler() *handlers.Mux { return o.router(true) }

// UnguardedHandler is the same router without authentication, policies,
// rate limits and audit: the core path alone, for the benchmarks that
// measure it and for embedding behind another gate. app never serves it.
func (o *API) UnguardedHandler() http.Handler { return o.router(false) }

func (o *API) router(guarded bool) *handlers.Mux {
	m := handlers.NewMux()
	m.Use(handlers.OuterMiddleware(o.Log, o.Registry, "orchestrator")...)
	m.Use(o.CORS.Middleware)
	if guarded {
		m.Use(o.Access.Guard(m))
	}
	r := m.Router()
	r.Handle(http.MethodGet, "/metrics", handlers.Open(""), promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	r.Get("/openapi.json", handlers.Open(""), handlers.ServeOpenAPI(handlers.OrchestratorAPI))
	r.Group(func(r handlers.Router) {
		r.Use(handlers.Versioned, handlers.LimitBody, o.Idempotency.Middleware)
		r.Get("/health", handlers.Open(""), o.health)
		r.Get("/state/system/health", handlers.Open(""), o.systemHealth)
		r.Post("/tasks/{id}/cancel", handlers.Rule("tasks", "cancel", "task.cancel"), o.cancelTask)
		r.Post("/workflows/servers/create", handlers.Rule("servers", "create", "server.create"), submit[serversRequest](o))
		r.Post("/workflows/taskserv/create", handlers.Rule("taskservs", "create", "taskserv.create"), submit[taskservRequest](o))
		r.Post("/workflows/cluster/create", handlers.Rule("clusters", "create", "cluster.create"), submit[clusterRequest](o))
		r.Post("/batch/execute", handlers.Rule("batches", "create", "batch.execute").WithLimit("batch"), o.executeBatch)
		r.Get("/ws", handlers.Rule("events", "read", "events.subscribe").WithQueryToken(), o.websocket)
		// History is audit data: reading it needs the audit permission.
		r.Get("/events", handlers.Rule("audit", "read", "events.read"), o.listEvents)
		if o.Webhooks != nil {
			r.Post("/webhooks", handlers.Rule("webhooks", "create", "webhook.create"), o.createWebhook)
		}
		// What these answer, or decide, is read from the views: they
		// wait until the views hold every write stored before them.
		r.Group(func(r handlers.Router) {
			r.Use(o.fresh)
			r.Get("/tasks", handlers.Rule("tasks", "read", "task.read"), o.listTasks)
			r.Get("/tasks/{id}", handlers.Rule("tasks", "read", "task.read"), o.getTask)
			r.Get("/batch/operations", handlers.Rule("batches", "read", "batch.read"), o.listBatches)
			r.Get("/batch/operations/{id}", handlers.Rule("batches", "read", "batch.read"), o.getBatch)
			r.Post("/batch/operations/{id}/cancel", handlers.Rule("batches", "cancel", "batch.cancel"), o.cancelBatch)
			r.Get("/state/workflows/{id}/progress", handlers.Rule("workflows", "read", "workflow.read"), o.workflowProgress)
			r.Get("/state/workflows/{id}/snapshots", handlers.Rule("workflows", "read", "workflow.read"), o.workflowSnapshots)
			r.Get("/state/workflows/{id}/history", handlers.Rule("audit", "read", "workflow.history"), o.workflowHistory)
			r.Get("/state/system/metrics", handlers.Rule("system", "read", "system.read"), o.systemMetrics)
			r.Get("/state/statistics", handlers.Rule("system", "read", "system.read"), o.statistics)
			if o.Recovery != nil {
				r.Post("/rollback/execute", handlers.Rule("rollbacks", "execute", "rollback.execute"), o.executeRollback)
				r.Post("/rollback/checkpoints", handlers.Rule("checkpoints", "create", "checkpoint.create"), o.createCheckpoint)
				r.Get("/rollback/checkpoints", handlers.Rule("checkpoints", "read", "checkpoint.read"), o.listCheckpoints)
				r.Get("/rollback/checkpoints/{id}", handlers.Rule("checkpoints", "read", "checkpoint.read"), o.getCheckpoint)
				r.Post("/rollback/restore/{id}", handlers.Rule("rollbacks", "restore", "rollback.restore"), o.restoreCheckpoint)
				r.Get("/rollback/statistics", handlers.Rule("rollbacks", "read", "rollback.read"), o.rollbackStatistics)
			}
			if o.Webhooks != nil {
				r.Get("/webhooks", handlers.Rule("webhooks", "read", "webhook.read"), o.listWebhooks)
				r.Get("/webhooks/{id}", handlers.Rule("webhooks", "read", "webhook.read"), o.getWebhook)
				r.Delete("/webhooks/{id}", handlers.Rule("webhooks", "delete", "webhook.delete"), o.deleteWebhook)
				r.Get("/webhooks/{id}/deliveries", handlers.Rule("webhooks", "read", "webhook.read"), o.listDeliveries)
				r.Post("/webhooks/deliveries/{id}/retry", handlers.Rule("webhooks", "retry", "webhook.retry"), o.retryDelivery)
			}
		})
	})
	return m
}

func (o *API) health(w http.ResponseWriter, r *http.Request) error {
	return handlers.WriteJSON(w, http.StatusOK, "Orchestrator is healthy")
}

// fresh is read-your-writes: a route behind it runs once the views hold
// everything stored before the request, on whichever instance wrote it.
func (o *API) fresh(next http.Handler) http.Handler {
	return handlers.Fresh(o.View, handlers.ReadWait(o.ReadWait), next)
}
