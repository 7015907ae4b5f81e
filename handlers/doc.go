// Package handlers is what the two HTTP APIs share: the envelope
// {"success": …, "data"|"error": …} and the one place errors become
// statuses (WriteError: the sentinels of the event store, the views and
// the identity rules, validation errors naming fields), strict JSON
// decoding, pagination, the middleware every request passes (request id,
// access log, metrics, recovery, versioning, body limits, read-your-writes
// with Fresh, idempotency keys, rate limits), the access guard with its
// audit log, and the router (Mux) on which every route declares its
// protection where it is mounted. It also embeds the OpenAPI documents
// both APIs serve, which its tests generate.
//
// The APIs themselves are handlers/orchestrator (:9090) and
// handlers/controlcenter (:9080). A handler there is a HandlerFunc:
// decode, one call into a domain package or a view, encode; it returns
// its error and never writes one itself. Nothing here decides workflow or
// identity state.
//
// The tests of this package exercise both APIs end to end, through
// instances started by app/apptest.
package handlers
