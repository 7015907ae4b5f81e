package controlcenter

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/handlers"
)

func (c *API) listPolicies(w http.ResponseWriter, r *http.Request) error {
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	policies, total := c.Policies.List(p.Offset, p.Limit)
	return handlers.WritePage(w, r, p, total, policies)
}

func (c *API) getPolicy(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	p, ok := c.Policies.Get(id)
	if !ok {
		return handlers.Errorf(http.StatusNotFound, "policy %s not found", id)
	}
	return handlers.WriteJSON(w, http.StatusOK, p)
}

func (c *API) createPolicy(w http.ResponseWriter, r *http.Request) error {
	var req auth.PolicyRequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	policy, err := c.Identity.CheckPolicy(events.NewID(), req)
	if err != nil {
		return err
	}
	handlers.NoteResource(r, "policies/"+policy.ID())
	handlers.NoteDetail(r, "name", policy.Name())
	created, err := c.Identity.CreatePolicy(r.Context(), caller(r), policy)
	if err != nil {
		return err
	}
	return handlers.WriteJSON(w, http.StatusCreated, created)
}

func (c *API) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	var req auth.PolicyRequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Identity.UpdatePolicy(r.Context(), caller(r), chi.URLParam(r, "id"), req); err != nil {
		return err
	}
	return handlers.WriteJSON(w, http.StatusOK, "Policy updated successfully")
}

func (c *API) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	policy, err := c.Identity.DeletePolicy(r.Context(), caller(r), chi.URLParam(r, "id"))
	if policy.ID != "" {
		handlers.NoteDetail(r, "name", policy.Name)
	}
	if err != nil {
		return err
	}
	return handlers.WriteJSON(w, http.StatusOK, "Policy deleted successfully")
}
