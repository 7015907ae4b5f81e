package handlers_test

import (
	"net/http"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/handlers"
	"provisioning/handlers/controlcenter"
	"provisioning/handlers/orchestrator"
	"provisioning/hub"
	"provisioning/outward"
	"provisioning/projections"
	"provisioning/webhooks"
	"provisioning/workflow"
)

// routeDocs describes every route of both handlers.APIs, one line each; a route
// added to a router without a line here fails the router walk test.
func routeDocs() []routeDoc {
	const (
		notFound = http.StatusNotFound
		conflict = http.StatusConflict
	)
	return []routeDoc{
		// Both handlers.APIs.
		op("GET /health", both, "health", "Is the API up?", text("A sentence saying the API is healthy.")),
		op("GET /metrics", both, "metrics", "Prometheus metrics", unversioned,
			raw("text/plain", "The Prometheus text exposition format.", openapi3.NewStringSchema()),
			failsPlain(http.StatusInternalServerError, "A metric could not be gathered (plain text), or an unexpected error.")),
		op("GET /openapi.json", both, "openapi", "This description", unversioned,
			raw("application/json", "The OpenAPI 3.1 description of this API.", openapiSchema())),

		// Orchestrator: tasks and workflows.
		op("GET /tasks", orch, "listTasks", "List tasks, newest first", paged[workflow.Task]("One page of tasks."),
			query(param("status", "Only tasks in this status.", enumSchema(orchestrator.TaskStatuses...)), param("batch_id", "Only the tasks of this batch.", openapi3.NewStringSchema()))),
		op("GET /tasks/{id}", orch, "getTask", "One task", ok[workflow.Task]("The task.")),
		op("POST /tasks/{id}/cancel", orch, "cancelTask", "Cancel a task", message(200, "Task cancelled"),
			message(202, "Task cancellation requested; the task is still stopping"), fails(conflict)),
		op("POST /workflows/servers/create", orch, "createServers", "Submit a servers workflow", body[workflow.ServersRequest](false), creates, text("The new task's id.")),
		op("POST /workflows/taskserv/create", orch, "createTaskserv", "Submit a taskserv workflow", body[workflow.TaskservRequest](false), creates, text("The new task's id.")),
		op("POST /workflows/cluster/create", orch, "createCluster", "Submit a cluster workflow", body[workflow.ClusterRequest](false), creates, text("The new task's id.")),

		// Orchestrator: batches.
		op("POST /batch/execute", orch, "executeBatch", "Submit a batch", body[workflow.BatchRequest](false), creates, ok[orchestrator.BatchAccepted]("The batch, accepted; its operations are pending.")),
		op("GET /batch/operations", orch, "listBatches", "List batches, newest first", paged[projections.BatchView]("One page of batches, without the operations' results."),
			query(param("status", "Only batches in this status.", enumSchema(orchestrator.BatchStatuses...)))),
		op("GET /batch/operations/{id}", orch, "getBatch", "One batch, with its operations' results", ok[projections.BatchView]("The batch.")),
		op("POST /batch/operations/{id}/cancel", orch, "cancelBatch", "Cancel a batch", message(200, "Operation cancelled"),
			message(202, "Cancellation requested; the batch's tasks are still stopping"), fails(conflict)),

		// Orchestrator: state.
		op("GET /state/workflows/{id}/progress", orch, "workflowProgress", "Progress of a task or a batch", ok[projections.WorkflowProgress]("The progress.")),
		op("GET /state/workflows/{id}/snapshots", orch, "workflowSnapshots", "Snapshots of a task or a batch, one per status change, oldest first", paged[workflow.Snapshot]("One page of snapshots.")),
		op("GET /state/system/metrics", orch, "systemMetrics", "Workflow counts and host and process load", ok[orchestrator.SystemMetrics]("The metrics; load figures that could not be read are null.")),
		op("GET /state/system/health", orch, "systemHealth", "Health of every component", rawType[orchestrator.HealthEnvelope](handlers.MediaTypeV1, "Every component is Healthy."),
			answerRaw[orchestrator.HealthEnvelope](http.StatusServiceUnavailable, "A component is Degraded or Unhealthy: success is false, error says which, data holds the report.")),
		op("GET /state/statistics", orch, "statistics", "Storage and duration statistics", ok[orchestrator.Statistics]("The statistics.")),

		// Orchestrator: recovery and history.
		op("POST /rollback/checkpoints", orch, "createCheckpoint", "Take a checkpoint of every view", body[workflow.CheckpointRequest](false, required("name")), creates,
			enveloped(http.StatusCreated, "The checkpoint's id.", func(*schemaSet) *openapi3.SchemaRef { return stringSchema() })),
		op("GET /rollback/checkpoints", orch, "listCheckpoints", "List checkpoints, newest first", paged[orchestrator.CheckpointSummary]("One page of checkpoints.")),
		op("GET /rollback/checkpoints/{id}", orch, "getCheckpoint", "One checkpoint", ok[orchestrator.CheckpointDetail]("The checkpoint.")),
		op("POST /rollback/execute", orch, "executeRollback", "Compensate the work done after a checkpoint, or given operations",
			body[workflow.RollbackRequest](false), creates, query(param("wait", "Seconds to wait for the rollback to end (default 30, at most 300).", openapi3.NewIntegerSchema().WithMin(0).WithMax(300))),
			ok[projections.RollbackResult]("The rollback ended: its result."),
			enveloped(http.StatusAccepted, "The rollback still runs: its result so far.", typeOf[projections.RollbackResult]()), fails(conflict)),
		op("POST /rollback/restore/{id}", orch, "restoreCheckpoint", "Set the views back to a checkpoint",
			enveloped(http.StatusOK, "State restored from checkpoint <id>", func(*schemaSet) *openapi3.SchemaRef { return stringSchema() }),
			enveloped(http.StatusAccepted, "Restore from checkpoint <id> recorded; the views are still being set back", func(*schemaSet) *openapi3.SchemaRef { return stringSchema() }),
			fails(conflict)),
		op("GET /rollback/statistics", orch, "rollbackStatistics", "Checkpoint and rollback statistics", ok[orchestrator.RollbackStatistics]("The statistics.")),
		op("GET /events", orch, "listEvents", "The event history, oldest first (audit permission)", paged[orchestrator.HistoryEvent]("One page of stored events."),
			query(append([]*openapi3.Parameter{param("aggregate", "Only events of this aggregate (task, batch, checkpoint, rollback, …).", openapi3.NewStringSchema()),
				param("id", "Only events of this aggregate instance (needs aggregate).", openapi3.NewStringSchema())}, historyParams()...)...)),
		op("GET /state/workflows/{id}/history", orch, "workflowHistory", "The events of a task, a batch and its tasks, or a rollback and its compensations",
			paged[orchestrator.HistoryEvent]("One page of the workflow's events, oldest first."), query(historyParams()...)),

		// Orchestrator: events out.
		op("GET /ws", orch, "events", "The event stream (WebSocket)", describedAs(wsDescription), upgrade("The connection is now a WebSocket; each text message is an EventFrame."), messages[hub.Frame](),
			query(commaList(param("events", "Only these event types, comma-separated.", eventTypesSchema())), param("task_id", "Only events of this task.", openapi3.NewStringSchema()),
				param("batch_id", "Only events of this batch.", openapi3.NewStringSchema()), param("since", "Replay from this stream sequence (inclusive), then go live.", openapi3.NewIntegerSchema().WithMin(1))),
			fails(http.StatusUpgradeRequired)),
		op("POST /webhooks", orch, "createWebhook", "Register a webhook endpoint", body[webhooks.Request](false), creates,
			created[webhooks.Created]("The endpoint; its secret is shown this once."), withHeader(201, "Location"), fails(conflict)),
		op("GET /webhooks", orch, "listWebhooks", "List webhook endpoints", paged[webhooks.Endpoint]("One page of endpoints (without secrets).")),
		op("GET /webhooks/{id}", orch, "getWebhook", "One webhook endpoint", ok[webhooks.Endpoint]("The endpoint (without its secret).")),
		op("DELETE /webhooks/{id}", orch, "deleteWebhook", "Delete a webhook endpoint", message(200, "Webhook deleted"), fails(conflict)),
		op("GET /webhooks/{id}/deliveries", orch, "listDeliveries", "Deliveries to an endpoint, newest first", paged[webhooks.Delivery]("One page of deliveries."),
			query(param("status", "Only deliveries in this status.", enumSchema(webhooks.DeliveryStatuses...)))),
		op("POST /webhooks/deliveries/{id}/retry", orch, "retryDelivery", "Retry a delivery", enveloped(http.StatusAccepted, "The delivery, pending again.", typeOf[webhooks.Delivery]()), fails(conflict)),

		// Control center: sessions.
		op("GET /.well-known/jwks.json", control, "jwks", "The token verification keys", unversioned,
			rawType[auth.JWKS]("application/jwk-set+json", "A JWK Set (RFC 7517) of the Ed25519 keys tokens are signed with."), withHeader(200, "Cache-Control")),
		op("POST /auth/login", control, "login", "Log in", body[auth.LoginRequest](false), ok[auth.Session]("A token, its expiry, and the user."),
			failsAs(http.StatusUnauthorized, "Invalid username, password or MFA code (one answer for all three)."), fails(http.StatusServiceUnavailable)),
		op("POST /auth/refresh", control, "refresh", "A new token for the caller; the old one is revoked", body[controlcenter.RefreshRequest](true), ok[auth.Session]("The new token and its expiry.")),
		op("POST /auth/logout", control, "logout", "Revoke the caller's token", message(200, "Successfully logged out")),

		// Control center: users.
		op("GET /users", control, "listUsers", "List users", paged[controlcenter.UserView]("One page of users."),
			query(param("role", "Only users with this role.", openapi3.NewStringSchema()), param("enabled", "Only enabled (true) or disabled (false) users.", openapi3.NewBoolSchema()))),
		op("POST /users", control, "createUser", "Create a user", body[auth.CreateUserRequest](false), created[auth.UserCreated]("The user."), fails(conflict), creates),
		op("GET /users/{id}", control, "getUser", "One user", ok[controlcenter.UserView]("The user.")),
		op("PUT /users/{id}", control, "updateUser", "Change a user", body[auth.UpdateUserRequest](false, minProps(1)), message(200, "User updated successfully"), fails(conflict)),
		op("DELETE /users/{id}", control, "deleteUser", "Delete a user", message(200, "User deleted successfully"), fails(conflict)),
		op("POST /users/{id}/mfa", control, "enrolMFA", "Start MFA enrolment", ok[auth.MFAEnrolment]("A new TOTP secret, pending until verified."), fails(conflict)),
		op("POST /users/{id}/mfa/verify", control, "verifyMFA", "Turn MFA on with a code", body[controlcenter.VerifyMFARequest](false), message(200, "MFA enabled"), fails(conflict)),
		op("PUT /users/{id}/password", control, "changePassword", "Change one's own password, proving the current one; every session issued before ends",
			body[auth.PasswordChange](false), message(200, "Password changed; log in again with the new one"), fails(conflict)),

		// Control center: policies and audit.
		op("GET /policies", control, "listPolicies", "List policies", paged[auth.Policy]("One page of policies.")),
		op("POST /policies", control, "createPolicy", "Create a policy", body[auth.PolicyRequest](false, required("name", "rules")), created[auth.PolicyCreated]("The policy."), fails(conflict), creates),
		op("GET /policies/{id}", control, "getPolicy", "One policy", ok[auth.Policy]("The policy.")),
		op("PUT /policies/{id}", control, "updatePolicy", "Change a policy", body[auth.PolicyRequest](false, minProps(1)), message(200, "Policy updated successfully"), fails(conflict)),
		op("DELETE /policies/{id}", control, "deletePolicy", "Delete a policy", message(200, "Policy deleted successfully"), fails(conflict)),
		op("GET /audit/logs", control, "auditLogs", "Audit records, newest first", paged[projections.AuditRecord]("One page of audit records."),
			query(param("user_id", "Only records of this user.", openapi3.NewStringSchema()), param("action", "Only this action, e.g. server.create.", openapi3.NewStringSchema()),
				param("resource", "Only this resource and what lies under it, e.g. users or users/<id>.", openapi3.NewStringSchema()),
				param("result", "Only this result.", enumSchema(events.AuditSuccess, events.AuditFailure, events.AuditDenied)),
				param("from", "Only records at or after this time (RFC 3339).", openapi3.NewDateTimeSchema()),
				param("to", "Only records at or before this time (RFC 3339).", openapi3.NewDateTimeSchema()))),
	}
}

// historyParams are the filters GET /events and a workflow's history share.
func historyParams() []*openapi3.Parameter {
	seq := func() *openapi3.Schema { return openapi3.NewIntegerSchema().WithMin(1) }
	return []*openapi3.Parameter{
		commaList(param("type", "Only these event types, comma-separated.", eventTypesSchema())),
		param("from", "Only events stored at or after this time (RFC 3339).", openapi3.NewDateTimeSchema()),
		param("to", "Only events stored at or before this time (RFC 3339).", openapi3.NewDateTimeSchema()),
		param("from_seq", "Only events at or after this stream sequence.", seq()),
		param("to_seq", "Only events at or before this stream sequence.", seq()),
	}
}

const wsDescription = "Upgrade to a WebSocket and receive every event as it is stored, as EventFrame JSON text messages " +
	"(see docs/websocket.md). Browsers may pass the token as ?token=. A client that does not keep up is disconnected " +
	"(close code 1008); reconnect with since=<last seq + 1>."

// describeTypes names the components and adds what reflection cannot
// see: enums, bounds, and the fields a request must hold.
func describeTypes(s *schemaSet) {
	name := func(v any, n string) { s.names[typeOfValue(v)] = n }
	name(handlers.ErrorEnvelope{}, "Error")
	name(workflow.FieldError{}, "FieldError")
	name(projections.BatchView{}, "Batch")
	name(projections.OperationView{}, "Operation")
	name(projections.TaskResult{}, "OperationTask")
	name(orchestrator.BatchAccepted{}, "BatchAccepted")
	name(orchestrator.HealthEnvelope{}, "SystemHealth")
	name(controlcenter.UserView{}, "User")
	name(auth.Session{}, "Session")
	name(auth.MFAEnrolment{}, "MFAEnrolment")
	name(controlcenter.VerifyMFARequest{}, "VerifyMFARequest")
	name(webhooks.Endpoint{}, "Webhook")
	name(webhooks.Created{}, "WebhookCreated")
	name(webhooks.Delivery{}, "WebhookDelivery")
	name(webhooks.Attempt{}, "DeliveryAttempt")
	name(webhooks.Request{}, "WebhookRequest")
	name(auth.JWKS{}, "JWKS")
	name(auth.JWK{}, "JWK")
	name(hub.Frame{}, "EventFrame")

	answers, requests := refiner(s, answerMode), refiner(s, requestMode)
	answers(handlers.ErrorEnvelope{}, field("success", constant(false)))
	answers(workflow.Task{}, field("status", enum(orchestrator.TaskStatuses...)), field("progress", between(0, 100)))
	answers(projections.BatchView{}, field("status", enum(orchestrator.BatchStatuses...)), field("progress", between(0, 100)))
	answers(projections.OperationView{}, field("status", enum(operationStatuses...)), field("progress", between(0, 100)), field("type", enum(events.OpServerBatch, events.OpTaskservBatch, events.OpClusterBatch)))
	answers(projections.TaskResult{}, field("status", enum(operationStatuses...)), field("progress", between(0, 100)))
	answers(projections.WorkflowProgress{}, field("kind", enum("task", "batch", "rollback")), field("progress", between(0, 100)),
		field("estimated_time_remaining", note("Seconds, from the durations observed for tasks of the same kind; null until one has completed.")))
	answers(projections.AuditRecord{}, field("result", enum(events.AuditSuccess, events.AuditFailure, events.AuditDenied)), field("details", object))
	answers(auth.Policy{}, field("enabled", note("Whether the policy's rules apply.")))
	answers(events.PolicyRule{}, field("effect", enum(auth.Allow, auth.Deny)))
	answers(orchestrator.HealthReport{}, field("overall_status", enum(orchestrator.Healthy, orchestrator.Degraded, orchestrator.Unhealthy)))
	webhook := []schemaRule{field("status", enum(webhooks.StatusActive, webhooks.StatusDisabled)), field("source", enum(events.WebhookSourceAPI, events.WebhookSourceConfig))}
	answers(webhooks.Endpoint{}, webhook...)
	answers(webhooks.Created{}, append(webhook, field("secret", note("The HMAC key of the signatures; shown only in this answer.")))...)
	answers(webhooks.Delivery{}, field("status", enum(webhooks.DeliveryStatuses...)))
	answers(auth.Session{}, field("user", note("The user; only in the answer of a login.")))
	answers(hub.Frame{}, field("metadata", note("event_id, aggregate, aggregate_id, and when known task_id, batch_id, operation_id, status, correlation_id.")))

	names := []schemaRule{pattern(workflow.NamePattern), maxLen(workflow.MaxNameLen)}
	path := []schemaRule{pattern(workflow.PathPattern), maxLen(workflow.MaxPathLen)}
	ops := enum(workflow.OpCreate, workflow.OpDelete)
	requests(workflow.ServersRequest{}, required("infra"), field("infra", names...), field("settings", path...))
	requests(workflow.TaskservRequest{}, required("taskserv", "infra"), field("operation", ops), field("taskserv", names...), field("infra", names...), field("settings", path...))
	requests(workflow.ClusterRequest{}, required("cluster_type", "infra"), field("operation", ops), field("cluster_type", names...), field("infra", names...), field("settings", path...))
	requests(workflow.BatchRequest{}, required("name", "operations"), field("name", names...), field("version", names...), field("infra", names...), field("settings", path...),
		field("storage_backend", enum("jetstream", "filesystem", "surrealdb")), field("parallel_limit", between(1, workflow.MaxParallelLimit)),
		field("operations", minItems(1), maxItems(workflow.MaxOperations)))
	requests(workflow.OperationRequest{}, required("id", "type"), field("id", names...), field("type", enum(events.OpServerBatch, events.OpTaskservBatch, events.OpClusterBatch)),
		field("provider", names...), field("infra", names...), field("settings", path...))
	requests(webhooks.Request{}, required("url", "events"), field("url", format("uri")), field("events", minItems(1)))
	requests(auth.LoginRequest{}, required("username", "password"), field("username", maxLen(auth.MaxUsernameLen)), field("mfa_code", note("The current TOTP code; required for users with MFA.")))
	requests(controlcenter.RefreshRequest{}, field("token", note("The token to refresh; the caller's own when absent.")))
	requests(auth.CreateUserRequest{}, required("username", "password"), field("username", pattern(auth.UsernamePattern)), field("email", maxLen(auth.MaxEmailLen), format("email")),
		field("password", minLen(auth.MinPasswordLen), maxLen(auth.MaxPasswordLen)), field("roles", maxItems(auth.MaxRoles), items(pattern(auth.RolePattern))),
		field("enabled", note("Default true.")))
	requests(auth.UpdateUserRequest{}, field("email", maxLen(auth.MaxEmailLen)), field("password", minLen(auth.MinPasswordLen), maxLen(auth.MaxPasswordLen)),
		field("roles", maxItems(auth.MaxRoles), items(pattern(auth.RolePattern))))
	requests(controlcenter.VerifyMFARequest{}, required("code"), field("code", pattern("^[0-9]{"+strconv.Itoa(auth.TOTPDigits)+"}$")))
	requests(auth.PolicyRequest{}, field("name", maxLen(auth.MaxPolicyNameLen)), field("version", maxLen(auth.MaxPolicyVersionLen)), field("description", maxLen(auth.MaxPolicyDescLen)),
		field("rules", minItems(1), maxItems(auth.MaxPolicyRules)))
	requests(events.PolicyRule{}, required("effect", "resource", "action"), field("effect", note("Allow or Deny (any case).")),
		field("resource", note("kind:pattern, e.g. servers:* (see docs/access.md).")), field("condition", note("A CEL expression over user, request and resource.")))
}

// operationStatuses are the statuses of a batch's operations and of their
// tasks.
var operationStatuses = []string{events.StatusPending, events.StatusRunning, events.StatusCompleted, events.StatusFailed,
	events.StatusCancelled, events.StatusSkipped, events.StatusRolledBack}

// eventTypesSchema is the events= option of /ws: event types that leave
// the process.
func eventTypesSchema() *openapi3.Schema {
	var types []string
	for _, t := range events.KnownTypes() {
		if !outward.InternalType(t) {
			types = append(types, string(t))
		}
	}
	s := openapi3.NewArraySchema()
	s.Items = openapi3.NewSchemaRef("", enumSchema(types...))
	return s
}

// openapiSchema is what GET /openapi.json answers: an OpenAPI 3.1
// document (its own schema is the OpenAPI specification's).
func openapiSchema() *openapi3.Schema {
	s := openapi3.NewObjectSchema()
	s.Required = []string{"openapi", "info", "paths"}
	s.Properties = openapi3.Schemas{"openapi": openapi3.NewSchemaRef("", openapi3.NewStringSchema().WithPattern(`^3\.1\.`))}
	return s
}
