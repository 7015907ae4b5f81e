package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/workflow"
)

// Policy bounds.
const (
	MaxPolicyNameLen    = 128
	MaxPolicyVersionLen = 32
	MaxPolicyDescLen    = 1024
	MaxPolicyRules      = 100
	defaultPolicyVer    = "1.0.0"
)

// PolicyRequest is the body of POST /policies and PUT /policies/{id}; in
// a PUT every field is optional and keeps its value when absent.
type PolicyRequest struct {
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

// apply checks q and applies it to p (a new policy when creating): the
// fields, then each rule, whose condition is compiled and type-checked.
// Bad input is a *workflow.ValidationError naming the field, with the
// compiler's message for a condition.
func (q PolicyRequest) apply(p *events.PolicyCreatedData, creating bool, ev *Evaluator) error {
	v := &workflow.ValidationError{}
	if creating && q.Name == nil && q.Version == nil && q.Rules == nil {
		v.Add("body", "must hold name, version and rules")
	}
	if !creating && q.Name == nil && q.Version == nil && q.Description == nil && q.Rules == nil && q.Enabled == nil {
		v.Add("body", "must set at least one of name, version, description, rules, enabled")
	}
	checkText(v, "name", q.Name, creating, MaxPolicyNameLen)
	checkText(v, "version", q.Version, false, MaxPolicyVersionLen)
	checkText(v, "description", q.Description, false, MaxPolicyDescLen)
	if q.Rules == nil && creating {
		v.Add("rules", "is required")
	}
	if q.Rules != nil && (len(*q.Rules) == 0 || len(*q.Rules) > MaxPolicyRules) {
		v.Add("rules", "must hold 1 to %d rules", MaxPolicyRules)
	}
	if err := v.Err(); err != nil {
		return err
	}
	if q.Rules != nil {
		rules, err := ev.CheckRules(*q.Rules)
		var re *RuleError
		if errors.As(err, &re) {
			v.Add(re.Field, "%s", re.Message)
			return v
		}
		if err != nil {
			return err
		}
		p.Rules = rules
	}
	q.applyText(p)
	return nil
}

func (q PolicyRequest) applyText(p *events.PolicyCreatedData) {
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
}

// NewPolicy is a policy about to be created: a PolicyRequest that passed
// its checks, with the id it will have. Only Service.CheckPolicy makes
// one.
type NewPolicy struct {
	data events.PolicyCreatedData
}

// ID is the id the policy will have.
func (p NewPolicy) ID() string { return p.data.PolicyID }

// Name is the policy's name.
func (p NewPolicy) Name() string { return p.data.Name }

// Version is the policy's version.
func (p NewPolicy) Version() string { return p.data.Version }

// Rules are the policy's rules, their effects made canonical.
func (p NewPolicy) Rules() []events.PolicyRule { return p.data.Rules }

// CheckPolicy checks a request to create a policy under id: its fields
// and every rule's condition, compiled. Bad input is a
// *workflow.ValidationError naming the field.
func (s *Service) CheckPolicy(id string, q PolicyRequest) (NewPolicy, error) {
	p := NewPolicy{data: events.PolicyCreatedData{PolicyID: id, Enabled: true}}
	if err := q.apply(&p.data, true, s.Evaluator); err != nil {
		return NewPolicy{}, err
	}
	return p, nil
}

// PolicyCreated is the answer of a creation.
type PolicyCreated struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// CreatePolicy stores a checked policy, unless it would stop its author
// from managing policies (a *workflow.ValidationError on "rules": nobody
// could undo it).
func (s *Service) CreatePolicy(ctx context.Context, by Caller, p NewPolicy) (PolicyCreated, error) {
	if p.data.PolicyID == "" {
		return PolicyCreated{}, errors.New("create policy: not checked (make it with CheckPolicy)")
	}
	err := s.changePolicies(ctx, by, func() (*events.Envelope, error) {
		if _, exists := s.Policies.Get(p.data.PolicyID); exists {
			return nil, fmt.Errorf("create policy %s: %w", p.data.PolicyID, eventstore.ErrConflict)
		}
		return s.policyEvent(by, events.PolicyCreated, p.data)
	})
	if err != nil {
		return PolicyCreated{}, err
	}
	return PolicyCreated{ID: p.data.PolicyID, Name: p.data.Name, Version: p.data.Version}, nil
}

// UpdatePolicy applies q to the policy id (ErrNotFound when there is
// none), with the checks of CheckPolicy and CreatePolicy.
func (s *Service) UpdatePolicy(ctx context.Context, by Caller, id string, q PolicyRequest) error {
	return s.changePolicies(ctx, by, func() (*events.Envelope, error) {
		current, ok := s.Policies.Get(id)
		if !ok {
			return nil, policyNotFound(id)
		}
		d := events.PolicyCreatedData{PolicyID: current.ID, Name: current.Name, Version: current.Version,
			Description: current.Description, Rules: current.Rules, Enabled: current.Enabled}
		if err := q.apply(&d, false, s.Evaluator); err != nil {
			return nil, err
		}
		return s.policyEvent(by, events.PolicyUpdated, d)
	})
}

// DeletePolicy deletes the policy id (ErrNotFound when there is none),
// unless that would lock its author out. The policy is returned whenever
// it was found, deleted or refused, so the caller can say which it was.
func (s *Service) DeletePolicy(ctx context.Context, by Caller, id string) (Policy, error) {
	var found Policy
	err := s.changePolicies(ctx, by, func() (*events.Envelope, error) {
		current, ok := s.Policies.Get(id)
		if !ok {
			return nil, policyNotFound(id)
		}
		found = current
		return s.policyEvent(by, events.PolicyDeleted, events.PolicyCreatedData{PolicyID: id})
	})
	return found, err
}

func policyNotFound(id string) error { return refuse(ErrNotFound, "policy %s not found", id) }

// changePolicies appends a policy change decided from the policy view.
// It is fenced on every policy, not only the changed one: whether a
// change locks its author out depends on all of them, so a change of any
// policy meanwhile makes it decide again.
func (s *Service) changePolicies(ctx context.Context, by Caller, decision func() (*events.Envelope, error)) error {
	fence := eventstore.Fence{Subject: events.AggregateSubject(events.AggPolicy, "*")}
	var id string
	_, err := s.decide(ctx, fence, by, func(bool) (*events.Envelope, error) {
		e, err := decision()
		if e != nil {
			id = e.AggregateID
		}
		return e, err
	})
	if errors.Is(err, eventstore.ErrConflict) {
		return refuse(eventstore.ErrConflict, "policy %s changed meanwhile; read it again and retry", id)
	}
	return err
}

// policyEvent is the event of a policy change, once it is known not to
// lock its author out.
func (s *Service) policyEvent(by Caller, t events.Type, d events.PolicyCreatedData) (*events.Envelope, error) {
	if err := s.keepsAuthorIn(by, t, d); err != nil {
		return nil, err
	}
	var payload any = d
	if t == events.PolicyDeleted {
		payload = events.PolicyDeletedData{PolicyID: d.PolicyID}
	}
	e, err := events.New(t, d.PolicyID, payload)
	return &e, err
}

// keepsAuthorIn refuses a change after which its author could no longer
// manage policies.
func (s *Service) keepsAuthorIn(by Caller, t events.Type, d events.PolicyCreatedData) error {
	if by.Principal == nil {
		return nil
	}
	all, _ := s.Policies.All()
	candidate := slices.DeleteFunc(all, func(x Policy) bool { return x.ID == d.PolicyID })
	if t != events.PolicyDeleted {
		candidate = append(candidate, Policy{ID: d.PolicyID, Name: d.Name, Rules: d.Rules, Enabled: d.Enabled})
	}
	// The question policies answer for the author's next change of a
	// policy: may they update it? Conditions see it as that request.
	in := Input{
		User:     by.Principal.Subject(),
		Request:  Request{Method: "PUT", Path: "/policies/" + d.PolicyID, IP: by.IP, Action: "update"},
		Resource: Resource{Kind: "policies", ID: d.PolicyID},
	}
	if dec := s.Evaluator.DecideWith(candidate, in); !dec.Allowed {
		v := &workflow.ValidationError{}
		v.Add("rules", "%s", fmt.Sprintf("would stop you (%s) from managing policies (%s); not saved", by.Principal.Username, dec.Reason))
		return v
	}
	return s.keepsAdminsIn(by, candidate, d.PolicyID)
}

// managing are the rights over users and policies that must stay with
// at least one enabled admin: without them nobody could undo a policy.
var managing = []struct{ kind, action, method string }{
	{"users", "read", "GET"}, {"users", "create", "POST"}, {"users", "update", "PUT"}, {"users", "delete", "DELETE"},
	{"policies", "read", "GET"}, {"policies", "create", "POST"}, {"policies", "update", "PUT"}, {"policies", "delete", "DELETE"},
}

// keepsAdminsIn refuses policies after which no enabled admin could
// still manage users and policies, whatever the author keeps for itself.
// Rights are checked as an admin would use them from the author's
// address: on the policy being saved, and on the list of users.
func (s *Service) keepsAdminsIn(by Caller, candidate []Policy, policyID string) error {
	admins, _ := s.Users.List(UserFilter{Role: RoleAdmin}, 0, math.MaxInt)
	var lost []string
	for _, u := range admins {
		if !u.IsAdmin() {
			continue
		}
		subject := User{ID: u.ID, Username: u.Username, Roles: u.Roles, Role: u.Roles[0]}
		var missing []string
		for _, m := range managing {
			id, path := "", "/"+m.kind
			if m.kind == "policies" && (m.method == "PUT" || m.method == "DELETE") {
				id, path = policyID, "/policies/"+policyID
			}
			in := Input{User: subject, Request: Request{Method: m.method, Path: path, IP: by.IP, Action: m.action},
				Resource: Resource{Kind: m.kind, ID: id}}
			if !s.Evaluator.DecideWith(candidate, in).Allowed {
				missing = append(missing, m.action+" "+m.kind)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		lost = missing
	}
	if lost == nil {
		return nil // no enabled admin to keep in (the first start)
	}
	v := &workflow.ValidationError{}
	v.Add("rules", "would leave no enabled admin able to %s; not saved", strings.Join(lost, ", "))
	return v
}
