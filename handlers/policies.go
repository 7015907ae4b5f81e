package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"provisioning/auth"
	"provisioning/events"
)

func (c *ControlCenter) listPolicies(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	policies, total := c.Policies.List(p.Offset, p.Limit)
	return writePage(w, r, p, total, policies)
}

func (c *ControlCenter) getPolicy(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	p, ok := c.Policies.Get(id)
	if !ok {
		return errorf(http.StatusNotFound, "policy %s not found", id)
	}
	return writeJSON(w, http.StatusOK, p)
}

func (c *ControlCenter) createPolicy(w http.ResponseWriter, r *http.Request) error {
	var req auth.PolicyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	policy, err := c.Identity.CheckPolicy(events.NewID(), req)
	if err != nil {
		return err
	}
	noteResource(r, "policies/"+policy.ID())
	noteDetail(r, "name", policy.Name())
	created, err := c.Identity.CreatePolicy(r.Context(), identityCaller(r), policy)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, created)
}

func (c *ControlCenter) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	var req auth.PolicyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Identity.UpdatePolicy(r.Context(), identityCaller(r), chi.URLParam(r, "id"), req); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, "Policy updated successfully")
}

func (c *ControlCenter) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	policy, err := c.Identity.DeletePolicy(r.Context(), identityCaller(r), chi.URLParam(r, "id"))
	if policy.ID != "" {
		noteDetail(r, "name", policy.Name)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, "Policy deleted successfully")
}
