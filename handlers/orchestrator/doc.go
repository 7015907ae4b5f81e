// Package orchestrator is the orchestrator API on :9090: workflow
// submissions, tasks, batches, state and statistics, checkpoints,
// rollbacks and restores, the event history, webhooks, and the WebSocket.
//
// Its routes are all in API.Handler, each with its protection. A handler
// decodes the request, makes one call (an append decided by package
// workflow, a view of package projections, the webhooks service) and
// encodes the answer; it must not decide workflow state itself.
package orchestrator
