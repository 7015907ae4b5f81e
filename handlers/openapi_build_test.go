package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"provisioning/handlers"
	"provisioning/handlers/controlcenter"
	"provisioning/handlers/orchestrator"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"
)

// apiInfo is what a document says about its handlers.API.
var apiInfo = map[handlers.API]struct {
	title, server, description string
}{
	handlers.OrchestratorAPI: {"Provisioning Orchestrator API", "http://localhost:9090",
		"Tasks, workflow submissions, batches, state, the event stream and webhooks."},
	handlers.ControlCenterAPI: {"Provisioning Control Center API", "http://localhost:9080",
		"Sessions, users, MFA, policies and the audit log."},
}

// conventions sum up docs/api.md for readers of the document alone.
const conventions = "Answers are " + handlers.MediaTypeV1 + ": {success: true, data} or {success: false, error, fields?}. " +
	"Accept: that type, application/json, */* or none; another version is 406. " +
	"Lists take limit (1..1000, default 50) and offset and answer X-Total-Count, X-Limit, X-Offset and Link. " +
	"Limited answers carry X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset; 429 carries Retry-After. " +
	"Every answer carries X-Request-Id. An unknown path is 404, a known path with another method 405 with Allow. " +
	"Answers may gain fields; clients ignore the ones they do not know. More: docs/api.md in the repository."

// docVersion is the version of the description; the handlers.API's own version is
// v1 of its media type.
const docVersion = "1.0.0"

var documents = sync.OnceValues(func() (map[handlers.API][]byte, error) {
	out := map[handlers.API][]byte{}
	for _, api := range handlers.APIs {
		doc, err := buildOpenAPI(api)
		if err != nil {
			return nil, err
		}
		data, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("openapi %s: %w", api, err)
		}
		// Load what clients will load, and check it is a valid OpenAPI
		// 3.1 document with every reference resolved.
		loaded, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			return nil, fmt.Errorf("openapi %s: load: %w", api, err)
		}
		if err := loaded.Validate(context.Background()); err != nil {
			return nil, fmt.Errorf("openapi %s: %w", api, err)
		}
		out[api] = append(data, '\n')
	}
	return out, nil
})

// GenerateOpenAPI builds the OpenAPI 3.1 description of api from the
// route descriptions and the Go types the handlers encode, as JSON: what
// handlers/openapi/<api>.json must hold.
func GenerateOpenAPI(api handlers.API) ([]byte, error) {
	docs, err := documents()
	if err != nil {
		return nil, err
	}
	doc, ok := docs[api]
	if !ok {
		return nil, fmt.Errorf("openapi: no API %q", api)
	}
	return doc, nil
}

// DescribedRoutes returns the "METHOD pattern" of every route the
// description of api holds.
func DescribedRoutes(api handlers.API) []string {
	var out []string
	for _, d := range routeDocs() {
		if d.apis.has(api) {
			out = append(out, d.route)
		}
	}
	slices.Sort(out)
	return out
}

// apiSet is the handlers.APIs a route is served on.
type apiSet uint8

const (
	orch apiSet = 1 << iota
	control
	both = orch | control
)

func (s apiSet) has(api handlers.API) bool {
	return api == handlers.OrchestratorAPI && s&orch != 0 || api == handlers.ControlCenterAPI && s&control != 0
}

// routeDoc describes one route: its operation id, summary, and the parts
// that say what it takes and answers. What follows from the route table
// (security, 401/403/429, rate-limit headers), from the pattern (path
// parameters, 404) and from the conventions (X-Request-Id, 406, 500) is
// added by the builder.
type routeDoc struct {
	route   string
	apis    apiSet
	id      string
	summary string
	parts   []docPart
}

// op is one line of the route descriptions.
func op(route string, apis apiSet, id, summary string, parts ...docPart) routeDoc {
	return routeDoc{route: route, apis: apis, id: id, summary: summary, parts: parts}
}

// docPart adds something to an operation.
type docPart func(*opBuilder)

// opBuilder builds one operation.
type opBuilder struct {
	schemas     *schemaSet
	op          *openapi3.Operation
	method      string
	protection  handlers.Route
	hasBody     bool
	unversioned bool
	creates     bool
	errors      map[int]bool
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func buildOpenAPI(api handlers.API) (*openapi3.T, error) {
	info := apiInfo[api]
	doc := &openapi3.T{
		OpenAPI:    "3.1.0",
		Info:       &openapi3.Info{Title: info.title, Version: docVersion, Description: info.description + "\n\n" + conventions},
		Servers:    openapi3.Servers{{URL: info.server, Description: "default address"}},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{},
	}
	schemas := newSchemaSet()
	describeTypes(schemas)
	components(doc.Components, schemas)
	served := servedRoutes(api)
	for _, d := range routeDocs() {
		if !d.apis.has(api) {
			continue
		}
		method, path, _ := strings.Cut(d.route, " ")
		protection, ok := served.Protection(d.route)
		if !ok {
			return nil, fmt.Errorf("openapi: %s is described but not served", d.route)
		}
		b := &opBuilder{schemas: schemas, method: method, protection: protection, errors: map[int]bool{},
			op: &openapi3.Operation{OperationID: d.id, Summary: d.summary, Tags: []string{tagOf(path)}, Responses: openapi3.NewResponses()}}
		for _, p := range d.parts {
			p(b)
		}
		b.finish(path)
		doc.AddOperation(path, method, b.op)
	}
	if schemas.err != nil {
		return nil, fmt.Errorf("openapi %s: %w", api, schemas.err)
	}
	doc.Components.Schemas = schemas.components
	return doc, nil
}

// webhooksStub makes the orchestrator serve its /webhooks routes; the
// generator and the router walks never call it.
type webhooksStub struct{ orchestrator.Webhooks }

// servedRoutes is the router of api with every optional route on: where
// the document learns how each route is protected, and what the router
// walks walk.
func servedRoutes(api handlers.API) *handlers.Mux {
	if api == handlers.ControlCenterAPI {
		return (&controlcenter.API{Registry: prometheus.NewRegistry()}).Handler()
	}
	return (&orchestrator.API{Registry: prometheus.NewRegistry(), Webhooks: webhooksStub{}, Recovery: &orchestrator.Recovery{}}).Handler()
}

// tagOf groups operations by their path's first segment.
func tagOf(path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch seg {
	case "health", "metrics", "openapi.json", ".well-known":
		return "service"
	case "batch":
		return "batches"
	case "ws":
		return "events"
	case "audit":
		return "audit"
	}
	return seg
}

// finish adds what the conventions and the route table imply.
func (b *opBuilder) finish(path string) {
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		b.op.AddParameter(&openapi3.Parameter{Name: m[1], In: openapi3.ParameterInPath, Required: true,
			Description: "The id of the resource (a ULID for everything the API creates).", Schema: stringSchema()})
		b.fail(http.StatusNotFound)
	}
	if b.protection.Open {
		b.op.Security = &openapi3.SecurityRequirements{}
	} else {
		reqs := openapi3.SecurityRequirements{{"bearerAuth": {}}}
		if b.protection.QueryToken {
			reqs = append(reqs, openapi3.SecurityRequirement{"queryToken": {}}, openapi3.SecurityRequirement{"protocolToken": {}})
		}
		b.op.Security = &reqs
		b.fail(http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable)
	}
	if b.protection.Limit != "" {
		b.fail(http.StatusTooManyRequests)
	}
	if b.hasBody {
		b.fail(http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity)
	}
	if b.creates {
		b.op.Parameters = append(b.op.Parameters, &openapi3.ParameterRef{Ref: "#/components/parameters/Idempotency-Key"})
		// A repeat while the first request runs, or after it failed: 409;
		// the same key with another body: 422; a key too long: 400.
		b.fail(http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
	}
	if handlers.Mutates(b.method) {
		b.fail(http.StatusInsufficientStorage)
	}
	if !b.unversioned {
		b.fail(http.StatusNotAcceptable)
	}
	b.fail(http.StatusInternalServerError)
	limited := !b.protection.Open || b.protection.Limit != ""
	for _, status := range slices.Sorted(maps.Keys(b.errors)) {
		switch {
		case b.op.Responses.Status(status) != nil:
		case limited && !b.creates:
			// The usual error answer of a limited route is shared.
			b.op.Responses.Set(strconv.Itoa(status), &openapi3.ResponseRef{Ref: "#/components/responses/" + errorNames[status]})
		default:
			b.respond(status, errorDescriptions[status], handlers.MediaTypeV1, openapi3.NewSchemaRef("#/components/schemas/Error", nil))
		}
	}
	for _, r := range b.op.Responses.Map() {
		if r.Value != nil {
			b.commonHeaders(r.Value)
		}
	}
}

// errorResponses are the shared error answers of limited routes.
func errorResponses() openapi3.ResponseBodies {
	out := openapi3.ResponseBodies{}
	for status, name := range errorNames {
		b := &opBuilder{op: &openapi3.Operation{Responses: openapi3.NewResponses()}}
		r := b.respond(status, errorDescriptions[status], handlers.MediaTypeV1, openapi3.NewSchemaRef("#/components/schemas/Error", nil))
		b.commonHeaders(r)
		out[name] = &openapi3.ResponseRef{Value: r}
	}
	return out
}

// commonHeaders: every answer has X-Request-Id; answers of limited routes
// have the X-RateLimit-* headers (absent when the limit is off), a 429
// Retry-After, a 401 its challenge.
func (b *opBuilder) commonHeaders(r *openapi3.Response) {
	if r.Headers == nil {
		r.Headers = openapi3.Headers{}
	}
	r.Headers["X-Request-Id"] = headerRef("X-Request-Id")
	if !b.protection.Open || b.protection.Limit != "" {
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			r.Headers[h] = headerRef(h)
		}
	}
	if b.creates {
		r.Headers["Idempotent-Replayed"] = headerRef("Idempotent-Replayed")
	}
}

func (b *opBuilder) fail(statuses ...int) {
	for _, s := range statuses {
		b.errors[s] = true
	}
}

func (b *opBuilder) respond(status int, description, mediaType string, schema *openapi3.SchemaRef) *openapi3.Response {
	r := &openapi3.Response{Description: &description, Headers: openapi3.Headers{}}
	if mediaType != "" {
		r.Content = openapi3.Content{mediaType: openapi3.NewMediaType().WithSchemaRef(schema)}
	}
	switch status {
	case http.StatusTooManyRequests:
		r.Headers["Retry-After"] = headerRef("Retry-After")
	case http.StatusUnauthorized:
		r.Headers["WWW-Authenticate"] = headerRef("WWW-Authenticate")
	}
	b.op.AddResponse(status, r)
	return r
}

// envelope is the success envelope around data.
func envelope(data *openapi3.SchemaRef) *openapi3.SchemaRef {
	return openapi3.NewSchemaRef("", &openapi3.Schema{
		Type:     &openapi3.Types{"object"},
		Required: []string{"success", "data"},
		Properties: openapi3.Schemas{
			"success": openapi3.NewSchemaRef("", &openapi3.Schema{Const: true}),
			"data":    data,
		},
	})
}

func stringSchema() *openapi3.SchemaRef { return openapi3.NewSchemaRef("", openapi3.NewStringSchema()) }

func headerRef(name string) *openapi3.HeaderRef {
	return &openapi3.HeaderRef{Ref: "#/components/headers/" + name}
}

var errorNames = map[int]string{
	http.StatusBadRequest:            "BadRequest",
	http.StatusUnauthorized:          "Unauthorized",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "NotFound",
	http.StatusNotAcceptable:         "NotAcceptable",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "TooLarge",
	http.StatusUnsupportedMediaType:  "UnsupportedEncoding",
	http.StatusUpgradeRequired:       "UpgradeRequired",
	http.StatusUnprocessableEntity:   "Invalid",
	http.StatusTooManyRequests:       "TooManyRequests",
	http.StatusInternalServerError:   "InternalError",
	http.StatusServiceUnavailable:    "Unavailable",
	http.StatusInsufficientStorage:   "StorageFull",
}

var errorDescriptions = map[int]string{
	http.StatusBadRequest:            "Malformed JSON, or a query parameter out of its bounds.",
	http.StatusUnauthorized:          "No valid token (missing, malformed, expired, revoked, or its user disabled).",
	http.StatusForbidden:             "A policy refuses the caller this action on this resource.",
	http.StatusNotFound:              "No such resource.",
	http.StatusNotAcceptable:         "Accept asks for a version of the API this server does not speak.",
	http.StatusConflict:              "The resource is in a state that does not allow this, or changed meanwhile.",
	http.StatusRequestEntityTooLarge: "The body is larger than 1 MiB.",
	http.StatusUnsupportedMediaType:  "The body is encoded (Content-Encoding gzip, …); send it uncompressed.",
	http.StatusUnprocessableEntity:   "The body is well-formed JSON but invalid; fields names each problem.",
	http.StatusTooManyRequests:       "A rate limit is exceeded; retry after Retry-After seconds.",
	http.StatusInternalServerError:   "An unexpected error; the message carries the request id to quote.",
	http.StatusServiceUnavailable:    "A dependency (the event store, a view catching up, the audit log) cannot answer now; retry shortly.",
	http.StatusInsufficientStorage:   "The event store is full; nothing was recorded.",
	http.StatusUpgradeRequired:       "Not a WebSocket handshake.",
}
