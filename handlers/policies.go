package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/go-chi/chi/v5"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/projections"
	"provisioning/workflow"
)

// Policy bounds.
const (
	maxPolicyNameLen    = 128
	maxPolicyVersionLen = 32
	maxPolicyDescLen    = 1024
	maxPolicyRules      = 100
	defaultPolicyVer    = "1.0.0"
)

// policyRequest is the body of POST /policies and PUT /policies/{id};
// in a PUT every field is optional and keeps its value when absent.
type policyRequest struct {
	Name        *string              `json:"name"`
	Version     *string              `json:"version"`
	Description *string              `json:"description"`
	Rules       *[]events.PolicyRule `json:"rules"`
	Enabled     *bool                `json:"enabled"`
}

func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

func checkText(v *workflow.ValidationError, field string, s *string, required bool, max int) {
	switch {
	case s == nil && required:
		v.Add(field, "is required")
	case s == nil:
	case strings.TrimSpace(*s) == "" && required:
		v.Add(field, "must not be empty")
	case len(*s) > max:
		v.Add(field, "must be at most %d characters", max)
	case !printable(*s):
		v.Add(field, "must not hold control characters")
	}
}

// apply validates q onto p (a new policy when creating): the fields, then
// each rule, whose condition is compiled and type-checked. Bad input is a
// *workflow.ValidationError naming the field, with the compiler's message
// for a condition.
func (q *policyRequest) apply(p *events.PolicyCreatedData, creating bool, ev *auth.Evaluator) error {
	v := &workflow.ValidationError{}
	if creating && q.Name == nil && q.Version == nil && q.Rules == nil {
		v.Add("body", "must hold name, version and rules")
	}
	if !creating && q.Name == nil && q.Version == nil && q.Description == nil && q.Rules == nil && q.Enabled == nil {
		v.Add("body", "must set at least one of name, version, description, rules, enabled")
	}
	checkText(v, "name", q.Name, creating, maxPolicyNameLen)
	checkText(v, "version", q.Version, false, maxPolicyVersionLen)
	checkText(v, "description", q.Description, false, maxPolicyDescLen)
	if q.Rules == nil && creating {
		v.Add("rules", "is required")
	}
	if q.Rules != nil && (len(*q.Rules) == 0 || len(*q.Rules) > maxPolicyRules) {
		v.Add("rules", "must hold 1 to %d rules", maxPolicyRules)
	}
	if err := v.Err(); err != nil {
		return err
	}
	if q.Rules != nil {
		rules, err := ev.CheckRules(*q.Rules)
		var re *auth.RuleError
		if errors.As(err, &re) {
			v.Add(re.Field, "%s", re.Message)
			return v
		}
		if err != nil {
			return err
		}
		p.Rules = rules
	}
	if q.Name != nil {
		p.Name = strings.TrimSpace(*q.Name)
	}
	if q.Version != nil && strings.TrimSpace(*q.Version) != "" {
		p.Version = strings.TrimSpace(*q.Version)
	}
	if p.Version == "" {
		p.Version = defaultPolicyVer
	}
	if q.Description != nil {
		p.Description = *q.Description
	}
	if q.Enabled != nil {
		p.Enabled = *q.Enabled
	}
	return nil
}

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
	var req policyRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	d := events.PolicyCreatedData{PolicyID: events.NewID(), Enabled: true}
	if err := req.apply(&d, true, c.Access.Policies); err != nil {
		writeError(w, r, err)
		return
	}
	noteResource(r, "policies/"+d.PolicyID)
	noteDetail(r, "name", d.Name)
	if err := c.savePolicy(r, events.PolicyCreated, d, 0); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, policyCreated{ID: d.PolicyID, Name: d.Name, Version: d.Version})
}

// policyCreated is the answer of POST /policies.
type policyCreated struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (c *ControlCenter) updatePolicy(w http.ResponseWriter, r *http.Request) {
	var req policyRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	current, seq, err := c.currentPolicy(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	d := events.PolicyCreatedData{PolicyID: current.ID, Name: current.Name, Version: current.Version,
		Description: current.Description, Rules: current.Rules, Enabled: current.Enabled}
	if err := req.apply(&d, false, c.Access.Policies); err != nil {
		writeError(w, r, err)
		return
	}
	if err := c.savePolicy(r, events.PolicyUpdated, d, seq); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "Policy updated successfully")
}

func (c *ControlCenter) deletePolicy(w http.ResponseWriter, r *http.Request) {
	current, seq, err := c.currentPolicy(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	noteDetail(r, "name", current.Name)
	if err := c.savePolicy(r, events.PolicyDeleted, events.PolicyCreatedData{PolicyID: current.ID}, seq); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "Policy deleted successfully")
}

// currentPolicy reads the policy of the route's id and the sequence of
// its last event, which the change will expect.
func (c *ControlCenter) currentPolicy(r *http.Request) (projections.Policy, uint64, error) {
	id := chi.URLParam(r, "id")
	notFound := errorf(http.StatusNotFound, "policy %s not found", id)
	if !events.ValidID(id) {
		return projections.Policy{}, 0, notFound
	}
	last, err := c.Store.Last(r.Context(), events.AggPolicy, id)
	if errors.Is(err, eventstore.ErrNotFound) || err == nil && last.Type == events.PolicyDeleted {
		return projections.Policy{}, 0, notFound
	}
	if err != nil {
		return projections.Policy{}, 0, err
	}
	if err := c.seen(r, last.Seq); err != nil {
		return projections.Policy{}, 0, err
	}
	p, ok := c.Policies.Get(id)
	if !ok {
		return projections.Policy{}, 0, notFound
	}
	return p, last.Seq, nil
}

// savePolicy appends a policy change that expects the policy's last
// event at seq (0: a new policy). A change after which its author could
// no longer manage policies is refused (422): nobody could undo it.
func (c *ControlCenter) savePolicy(r *http.Request, t events.Type, d events.PolicyCreatedData, seq uint64) error {
	if err := c.keepsAuthorIn(r, t, d); err != nil {
		return err
	}
	var payload any = d
	if t == events.PolicyDeleted {
		payload = events.PolicyDeletedData{PolicyID: d.PolicyID}
	}
	e, err := events.New(t, d.PolicyID, payload)
	if err != nil {
		return err
	}
	stamp(r, &e)
	stored, err := c.Store.Append(r.Context(), e, eventstore.ExpectLast(seq))
	if errors.Is(err, eventstore.ErrConflict) {
		return errorf(http.StatusConflict, "policy %s changed meanwhile; read it again and retry", d.PolicyID)
	}
	if err != nil {
		return err
	}
	return c.seen(r, stored.Seq)
}

func (c *ControlCenter) keepsAuthorIn(r *http.Request, t events.Type, d events.PolicyCreatedData) error {
	p, ok := PrincipalFrom(r.Context())
	if !ok {
		return nil
	}
	all, _ := c.Policies.All()
	candidate := slices.DeleteFunc(all, func(x projections.Policy) bool { return x.ID == d.PolicyID })
	if t != events.PolicyDeleted {
		candidate = append(candidate, projections.Policy{ID: d.PolicyID, Name: d.Name, Rules: d.Rules, Enabled: d.Enabled})
	}
	in := auth.Input{
		User:     p.Subject(),
		Request:  auth.Request{Method: http.MethodPut, Path: "/policies/" + d.PolicyID, IP: ClientIP(r), Action: "update"},
		Resource: auth.Resource{Kind: "policies", ID: d.PolicyID},
	}
	if dec := c.Access.Policies.DecideWith(candidate, in); !dec.Allowed {
		v := &workflow.ValidationError{}
		v.Add("rules", "%s", fmt.Sprintf("would stop you (%s) from managing policies (%s); not saved", p.Username, dec.Reason))
		return v
	}
	return nil
}
