package projections

import (
	"fmt"
	"slices"
	"sync"

	"provisioning/auth"
	"provisioning/events"
)

// Policies is the policy view. Generation changes whenever a policy does,
// so an evaluator can tell cheaply whether its compiled set is current.
// It is safe for concurrent readers; only its runner applies events.
type Policies struct {
	mu         sync.RWMutex
	byID       map[string]*auth.Policy
	order      []*auth.Policy
	generation uint64
}

// NewPolicies returns an empty policy view.
func NewPolicies() *Policies {
	p := &Policies{}
	p.Reset()
	return p
}

// Name implements Projection.
func (p *Policies) Name() string { return "policies" }

// Reset implements Projection.
func (p *Policies) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byID = map[string]*auth.Policy{}
	p.order = nil
	p.generation++
}

// Apply implements Projection.
func (p *Policies) Apply(env events.Envelope) error {
	if env.Aggregate != events.AggPolicy {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch env.Type {
	case events.PolicyCreated, events.PolicyUpdated:
		var d events.PolicyCreatedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		pol, exists := p.byID[env.AggregateID]
		switch {
		case env.Type == events.PolicyCreated && exists:
			return fmt.Errorf("policy %s created twice (seq %d)", env.AggregateID, env.Seq)
		case env.Type == events.PolicyUpdated && !exists:
			return fmt.Errorf("update of unknown policy %s (seq %d)", env.AggregateID, env.Seq)
		case !exists:
			pol = &auth.Policy{ID: env.AggregateID, CreatedAt: env.Time}
			p.byID[pol.ID] = pol
			p.order = append(p.order, pol)
		}
		// Replace, never modify: readers may hold the old slice.
		pol.Name, pol.Version, pol.Description, pol.Enabled = d.Name, d.Version, d.Description, d.Enabled
		pol.Rules = slices.Clone(d.Rules)
		pol.UpdatedAt, pol.Seq = env.Time, env.Seq
	case events.PolicyDeleted:
		pol, ok := p.byID[env.AggregateID]
		if !ok {
			return fmt.Errorf("delete of unknown policy %s (seq %d)", env.AggregateID, env.Seq)
		}
		delete(p.byID, pol.ID)
		p.order = slices.DeleteFunc(p.order, func(x *auth.Policy) bool { return x == pol })
	default:
		return nil
	}
	p.generation++
	return nil
}

func copyPolicy(pol *auth.Policy) auth.Policy {
	c := *pol
	c.Rules = make([]events.PolicyRule, len(pol.Rules))
	for i, r := range pol.Rules {
		r.Action = slices.Clone(r.Action)
		c.Rules[i] = r
	}
	return c
}

// Get returns a copy of one policy.
func (p *Policies) Get(id string) (auth.Policy, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pol, ok := p.byID[id]
	if !ok {
		return auth.Policy{}, false
	}
	return copyPolicy(pol), true
}

// List returns one page of policies in creation order and the total.
func (p *Policies) List(offset, limit int) ([]auth.Policy, int) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var page []auth.Policy
	for i := offset; i < len(p.order) && len(page) < limit; i++ {
		page = append(page, copyPolicy(p.order[i]))
	}
	return page, len(p.order)
}

// All returns every policy in creation order and the generation they
// belong to.
func (p *Policies) All() ([]auth.Policy, uint64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]auth.Policy, len(p.order))
	for i, pol := range p.order {
		out[i] = copyPolicy(pol)
	}
	return out, p.generation
}

// Generation changes whenever any policy does.
func (p *Policies) Generation() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.generation
}

type policiesSnapshot struct {
	Version  int
	Policies []*auth.Policy
}

const policiesSnapshotVersion = 1

// Snapshot implements Projection.
func (p *Policies) Snapshot() ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return encodeSnapshot(policiesSnapshot{Version: policiesSnapshotVersion, Policies: p.order})
}

// Restore implements Projection.
func (p *Policies) Restore(data []byte) error {
	var s policiesSnapshot
	if err := decodeSnapshot("policies", data, &s, &s.Version, policiesSnapshotVersion); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byID = map[string]*auth.Policy{}
	p.order = s.Policies
	for _, pol := range s.Policies {
		p.byID[pol.ID] = pol
	}
	p.generation++
	return nil
}
