package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"provisioning/auth"
	"provisioning/events"
)

func (c *ControlCenter) listPolicies(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := c.freshIAM(r); err != nil {
		writeError(w, r, err)
		return
	}
	policies, total := c.Policies.List(p.Offset, p.Limit)
	writePage(w, r, p, total, policies)
}

func (c *ControlCenter) getPolicy(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := c.freshIAM(r); err != nil {
		writeError(w, r, err)
		return
	}
	p, ok := c.Policies.Get(id)
	if !ok {
		writeError(w, r, errorf(http.StatusNotFound, "policy %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (c *ControlCenter) createPolicy(w http.ResponseWriter, r *http.Request) {
	var req auth.PolicyRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	policy, err := c.Identity.CheckPolicy(events.NewID(), req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	noteResource(r, "policies/"+policy.ID())
	noteDetail(r, "name", policy.Name())
	created, err := c.Identity.CreatePolicy(r.Context(), identityCaller(r), policy)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, created)
}

func (c *ControlCenter) updatePolicy(w http.ResponseWriter, r *http.Request) {
	var req auth.PolicyRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := c.Identity.UpdatePolicy(r.Context(), identityCaller(r), chi.URLParam(r, "id"), req); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "Policy updated successfully")
}

func (c *ControlCenter) deletePolicy(w http.ResponseWriter, r *http.Request) {
	policy, err := c.Identity.DeletePolicy(r.Context(), identityCaller(r), chi.URLParam(r, "id"))
	if policy.ID != "" {
		noteDetail(r, "name", policy.Name)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "Policy deleted successfully")
}
