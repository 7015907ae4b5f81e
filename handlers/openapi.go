package handlers

import (
	"embed"
	"fmt"
	"net/http"
)

// API names one of the two APIs.
type API string

// The two APIs, each with its own OpenAPI document.
const (
	OrchestratorAPI  API = "orchestrator"
	ControlCenterAPI API = "control-center"
)

// APIs lists both.
var APIs = []API{OrchestratorAPI, ControlCenterAPI}

// The documents are generated from the route descriptions by the
// package's tests (go test ./handlers -run OpenAPIStatic -update) and
// embedded: the server binary does not carry the generator or its OpenAPI
// library, which cost every process start (the simulator is this binary
// too) milliseconds of package initialisation. A test fails when a file
// differs from what the descriptions generate.
//
//go:embed openapi/*.json
var openapiDocs embed.FS

// OpenAPI returns the OpenAPI 3.1 description of api as JSON, the bytes
// GET /openapi.json serves.
func OpenAPI(api API) ([]byte, error) {
	doc, err := openapiDocs.ReadFile("openapi/" + string(api) + ".json")
	if err != nil {
		return nil, fmt.Errorf("openapi: no document for API %q: %w", api, err)
	}
	return doc, nil
}

// ServeOpenAPI answers GET /openapi.json with the document of api.
func ServeOpenAPI(api API) HandlerFunc {
	doc, err := OpenAPI(api)
	return func(w http.ResponseWriter, r *http.Request) error {
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
		return nil
	}
}
