package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"provisioning/handlers"
)

// Every answer a Client receives is checked against the OpenAPI
// description of the API that gave it (handlers.OpenAPI, the document
// GET /openapi.json serves): the status must be described for the route,
// the body must match the status's schema, described headers must be
// well-formed and required ones present. A request for a route the
// description does not hold must be answered 404 or 405 in the error
// envelope. Mismatches fail the test with tb.Errorf.
//
// The check is stricter than the published document in one way: objects
// described from Go types may not carry undescribed fields (a published
// answer may gain fields in a later release; a test answer must not have
// fields the description does not know).

// api is a description ready to route requests and validate answers.
type api struct {
	router routers.Router
	errors *openapi3.SchemaRef
}

var descriptions = sync.OnceValues(func() (map[handlers.API]*api, error) {
	out := map[handlers.API]*api{}
	for _, name := range handlers.APIs {
		data, err := handlers.OpenAPI(name)
		if err != nil {
			return nil, err
		}
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			return nil, fmt.Errorf("load the %s description: %w", name, err)
		}
		// Route by path alone: test servers listen on random ports.
		doc.Servers = nil
		strict(doc)
		router, err := legacy.NewRouter(doc)
		if err != nil {
			return nil, fmt.Errorf("route the %s description: %w", name, err)
		}
		out[name] = &api{router: router, errors: doc.Components.Schemas["Error"]}
	}
	return out, nil
})

// strict closes every described object of the answers' components.
func strict(doc *openapi3.T) {
	for _, s := range doc.Components.Schemas {
		if v := s.Value; v != nil && v.Properties != nil && v.AdditionalProperties.Has == nil && v.AdditionalProperties.Schema == nil {
			closed := false
			v.AdditionalProperties.Has = &closed
		}
	}
}

// apiOf maps base URLs of running instances to their API, so an answer
// is checked against the right description even for a path both APIs
// serve or a path of the other API.
var apiOf = struct {
	sync.Mutex
	m map[string]*registration
}{m: map[string]*registration{}}

type registration struct{ api handlers.API }

// registerAPI records that base serves api until the test ends (or the
// base is registered again: a port reused by a later instance).
func registerAPI(tb testing.TB, base string, name handlers.API) {
	reg := &registration{api: name}
	apiOf.Lock()
	apiOf.m[base] = reg
	apiOf.Unlock()
	tb.Cleanup(func() {
		apiOf.Lock()
		defer apiOf.Unlock()
		if apiOf.m[base] == reg {
			delete(apiOf.m, base)
		}
	})
}

func registeredAPI(base string) (handlers.API, bool) {
	apiOf.Lock()
	defer apiOf.Unlock()
	reg, ok := apiOf.m[strings.TrimSuffix(base, "/")]
	if !ok {
		return "", false
	}
	return reg.api, true
}

// CheckAnswer checks an answer to req against the description of the API
// that served it (see the package's Client); apiName may be empty when
// the base URL was registered by Start or Serve, or when the path belongs
// to one API only. body is the answer's whole body.
func CheckAnswer(tb testing.TB, apiName handlers.API, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	if err := checkAnswer(apiName, req, status, header, body); err != nil {
		excerpt := string(body)
		if len(excerpt) > 600 {
			excerpt = excerpt[:600] + "…"
		}
		tb.Errorf("%s %s: the answer %d does not match the OpenAPI description: %v\nbody: %s", req.Method, req.URL.RequestURI(), status, err, excerpt)
	}
}

func checkAnswer(apiName handlers.API, req *http.Request, status int, header http.Header, body []byte) error {
	apis, err := descriptions()
	if err != nil {
		return err
	}
	if apiName == "" {
		apiName, _ = registeredAPI(req.URL.Scheme + "://" + req.URL.Host)
	}
	candidates := handlers.APIs
	if apiName != "" {
		candidates = []handlers.API{apiName}
	}
	for _, name := range candidates {
		a := apis[name]
		route, params, err := a.router.FindRoute(req)
		if err != nil {
			continue
		}
		return validate(req, route, params, status, header, body)
	}
	// No described route: the router's 404 or 405, in the envelope.
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		return fmt.Errorf("the route is not described, and the answer is not 404 or 405")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	return apis[handlers.OrchestratorAPI].errors.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse())
}

func validate(req *http.Request, route *routers.Route, params map[string]string, status int, header http.Header, body []byte) error {
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	if status == http.StatusSwitchingProtocols {
		// The body is the WebSocket: only the status is described.
		opts.ExcludeResponseBody = true
		body = nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// Transport returns a RoundTripper that checks every answer passing
// through next (http.DefaultTransport when nil) like a Client does, for
// tests that talk to an instance through another HTTP client (the SDK,
// the CLI).
func Transport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return checkingTransport{tb: tb, next: next}
}

type checkingTransport struct {
	tb   testing.TB
	next http.RoundTripper
}

func (t checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(req)
	if err != nil || res.StatusCode == http.StatusSwitchingProtocols {
		if err == nil {
			CheckAnswer(t.tb, "", req, res.StatusCode, res.Header, nil)
		}
		return res, err
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(data))
	CheckAnswer(t.tb, "", req, res.StatusCode, res.Header, data)
	return res, nil
}
