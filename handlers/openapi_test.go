package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"provisioning/app/apptest"
	"provisioning/events"
	"provisioning/handlers"
)

var update = flag.Bool("update", false, "rewrite handlers/openapi/*.json from the route descriptions")

// routers are both APIs with every optional route switched on.
func routers() map[handlers.API]*handlers.Mux {
	return map[handlers.API]*handlers.Mux{
		handlers.OrchestratorAPI:  servedRoutes(handlers.OrchestratorAPI),
		handlers.ControlCenterAPI: servedRoutes(handlers.ControlCenterAPI),
	}
}

// Every route a router serves is described, and every described route is
// served, per API.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	for api, r := range routers() {
		var served []string
		err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			served = append(served, method+" "+route)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(served)
		described := DescribedRoutes(api)
		for _, s := range served {
			if !slices.Contains(described, s) {
				t.Errorf("%s serves %s, which its OpenAPI description lacks: add a line to routeDocs", api, s)
			}
		}
		for _, d := range described {
			if !slices.Contains(served, d) {
				t.Errorf("%s's OpenAPI description holds %s, which it does not serve", api, d)
			}
		}
		if len(served) < 10 {
			t.Fatalf("%s: walked %d routes: the walk is broken", api, len(served))
		}
		// The document itself has exactly these operations.
		doc := load(t, api)
		var inDoc []string
		for path, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				inDoc = append(inDoc, method+" "+path)
			}
		}
		slices.Sort(inDoc)
		if !slices.Equal(inDoc, served) {
			t.Errorf("%s: the document's operations %v, the router's %v", api, inDoc, served)
		}
	}
}

func load(t *testing.T, api handlers.API) *openapi3.T {
	t.Helper()
	data, err := handlers.OpenAPI(api)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return doc
}

// The conventions every operation states: security as the router mounts
// the route, X-Request-Id on every answer, the error envelope on every
// error, pagination on lists.
func TestOpenAPIConventions(t *testing.T) {
	t.Parallel()
	for api, router := range routers() {
		table := router.Protections()
		doc := load(t, api)
		if doc.OpenAPI != "3.1.0" || len(doc.Servers) != 1 {
			t.Errorf("%s: openapi %s, servers %v", api, doc.OpenAPI, doc.Servers)
		}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				key := method + " " + path
				rule := table[key]
				if op.Security == nil || (len(*op.Security) == 0) != rule.Open {
					t.Errorf("%s: security %v, open %v", key, op.Security, rule.Open)
				}
				if !rule.Open && op.Responses.Status(401) == nil {
					t.Errorf("%s: protected but no 401", key)
				}
				for code, res := range op.Responses.Map() {
					if res.Value.Headers["X-Request-Id"] == nil {
						t.Errorf("%s %s: no X-Request-Id", key, code)
					}
					if code >= "400" && res.Value.Content.Get(handlers.MediaTypeV1) == nil {
						t.Errorf("%s %s: an error outside the envelope", key, code)
					}
				}
				paged := slices.ContainsFunc(op.Parameters, func(p *openapi3.ParameterRef) bool { return p.Value.Name == "limit" })
				if ok := op.Responses.Status(200); paged && ok.Value.Headers["X-Total-Count"] == nil {
					t.Errorf("%s: a list without pagination headers", key)
				}
			}
		}
	}
}

// GET /openapi.json on each port serves the document, without a token.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	for api, base := range map[handlers.API]string{handlers.OrchestratorAPI: in.OrchestratorURL(), handlers.ControlCenterAPI: in.ControlURL()} {
		res := apptestClient(base).Do(t, "GET", "/openapi.json", nil)
		want, _ := handlers.OpenAPI(api)
		if res.Status != 200 || res.Header.Get("Content-Type") != "application/json" || !bytes.Equal(res.Raw, want) {
			t.Errorf("%s: GET /openapi.json: %d %s, %d bytes", api, res.Status, res.Header.Get("Content-Type"), len(res.Raw))
		}
		var doc struct {
			Info struct{ Title string } `json:"info"`
		}
		if err := json.Unmarshal(res.Raw, &doc); err != nil || !strings.Contains(doc.Info.Title, map[handlers.API]string{
			handlers.OrchestratorAPI: "Orchestrator", handlers.ControlCenterAPI: "Control Center"}[api]) {
			t.Errorf("%s: title %q", api, doc.Info.Title)
		}
	}
}

// handlers/openapi/ holds the documents the binary embeds and serves;
// they must be what the route descriptions generate. go test ./handlers
// -run OpenAPIStatic -update rewrites them.
func TestOpenAPIStaticCopy(t *testing.T) {
	t.Parallel()
	for _, api := range handlers.APIs {
		doc, err := GenerateOpenAPI(api)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join("openapi", string(api)+".json")
		if *update {
			if err := os.WriteFile(file, doc, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		have, err := os.ReadFile(file)
		if err != nil || !bytes.Equal(have, doc) {
			t.Errorf("handlers/%s is stale (%v): run go test ./handlers -run OpenAPIStatic -update", file, err)
		}
		served, err := handlers.OpenAPI(api)
		if err != nil || !bytes.Equal(served, have) {
			t.Errorf("the embedded %s differs from the file (%v): rebuild", file, err)
		}
	}
}

// The /ws events= enum lists exactly the event types a subscriber can ask
// for.
func TestOpenAPIEventTypes(t *testing.T) {
	t.Parallel()
	doc := load(t, handlers.OrchestratorAPI)
	p := doc.Paths.Find("/ws").Get.Parameters.GetByInAndName("query", "events")
	if p == nil {
		t.Fatal("no events parameter")
	}
	n := len(p.Schema.Value.Items.Value.Enum)
	if n < 5 || slices.Contains(p.Schema.Value.Items.Value.Enum, any(string(events.WebhookRegistered))) {
		t.Errorf("events enum: %v", p.Schema.Value.Items.Value.Enum)
	}
}

// Every operation's usual refusals, on a real instance, through the
// checking client: 406 for another version, 404 for an unknown id, 400 for
// a page out of bounds. Nothing is changed: mutating routes get only the
// 406, which comes before their handler.
func TestOpenAPIRefusalsMatchTheDescription(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	const unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	clients := map[handlers.API]*apptest.Client{handlers.OrchestratorAPI: in.orch, handlers.ControlCenterAPI: in.cc}
	for _, api := range handlers.APIs {
		c := clients[api]
		doc := load(t, api)
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				url := strings.ReplaceAll(path, "{id}", unknown)
				if op.Responses.Status(http.StatusNotAcceptable) != nil {
					wantCode(t, c.Do(t, method, url, nil, "Accept", "application/vnd.provisioning.v2+json"), http.StatusNotAcceptable)
				}
				if method != http.MethodGet {
					continue
				}
				if strings.Contains(path, "{id}") {
					wantCode(t, c.Do(t, method, url, nil), http.StatusNotFound)
				}
				if op.Parameters.GetByInAndName("query", "limit") != nil {
					wantCode(t, c.Do(t, method, url+"?limit=0", nil), http.StatusBadRequest)
				}
			}
		}
	}
	// Off the happy path of the WebSocket and of refresh.
	wantCode(t, in.orch.Do(t, "GET", "/ws", nil), http.StatusUpgradeRequired)
	res := in.cc.Do(t, "POST", "/auth/refresh", map[string]string{"token": "not-a-token"})
	if wantCode(t, res, http.StatusUnauthorized); res.Header.Get("WWW-Authenticate") == "" {
		t.Error("a 401 without WWW-Authenticate")
	}
}

func wantCode(t *testing.T, res apptest.Response, status int) {
	t.Helper()
	if res.Status != status {
		t.Errorf("got %d %s, want %d", res.Status, res.Raw, status)
	}
}
