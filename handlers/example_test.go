package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"provisioning/auth"
	"provisioning/handlers"
)

// A handler returns its error; the envelope says what went wrong. A
// refusal of the identity rules keeps its sentence and gets its status.
func ExampleHandlerFunc() {
	var delete handlers.HandlerFunc = func(w http.ResponseWriter, r *http.Request) error {
		return &auth.Refusal{Kind: auth.ErrLastAdmin, Message: "user admin is the last enabled admin; enable another admin first"}
	}
	w := httptest.NewRecorder()
	delete.ServeHTTP(w, httptest.NewRequest(http.MethodDelete, "/users/01ARZ3NDEKTSV4RRFFQ69G5FAV", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Print(w.Body)
	// Output:
	// 409 application/vnd.provisioning.v1+json
	// {"success":false,"error":"user admin is the last enabled admin; enable another admin first"}
}

// A success carries its data; a body that does not decode is a 422
// naming each field.
func ExampleDecodeJSON() {
	var ok handlers.HandlerFunc = func(w http.ResponseWriter, r *http.Request) error {
		var req struct {
			Infra string `json:"infra"`
		}
		if err := handlers.DecodeJSON(r, &req); err != nil {
			return err
		}
		return handlers.WriteJSON(w, http.StatusOK, "submitted "+req.Infra)
	}
	for _, body := range []string{`{"infra": "production"}`, `{"infra": 7, "extra": true}`} {
		w := httptest.NewRecorder()
		ok.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/workflows/servers/create", strings.NewReader(body)))
		fmt.Print(w.Code, " ", w.Body)
	}
	// Output:
	// 200 {"success":true,"data":"submitted production"}
	// 422 {"success":false,"error":"validation failed: infra: must be a string, not number","fields":[{"field":"infra","message":"must be a string, not number"}]}
}

// Every route says how it is protected where it is mounted; the guard
// asks the caller's token and the policies before the handler runs.
func ExampleRouter() {
	m := handlers.NewMux()
	m.Use((&handlers.Access{}).Guard(m))
	r := m.Router()
	r.Get("/health", handlers.Open(""), func(w http.ResponseWriter, r *http.Request) error {
		return handlers.WriteJSON(w, http.StatusOK, "healthy")
	})
	r.Get("/tasks", handlers.Rule("tasks", "read", "task.read"), func(w http.ResponseWriter, r *http.Request) error {
		return handlers.WriteJSON(w, http.StatusOK, []string{})
	})
	for _, path := range []string{"/health", "/tasks"} {
		w := httptest.NewRecorder()
		m.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Print(path, " ", w.Code, " ", w.Body)
	}
	p, _ := m.Protection("GET /tasks")
	fmt.Println(p.Kind, p.Action, p.Audit)
	// Output:
	// /health 200 {"success":true,"data":"healthy"}
	// /tasks 503 {"success":false,"error":"access control is not configured"}
	// tasks read task.read
}
