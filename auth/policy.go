package auth

import (
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"provisioning/events"
)

// Effects of a rule.
const (
	Allow = "Allow"
	Deny  = "Deny"
)

// Kinds are the resource kinds a rule may name ("*" names all).
var Kinds = []string{
	"tasks", "servers", "taskservs", "clusters", "batches", "workflows", "system",
	"checkpoints", "rollbacks", "webhooks", "events",
	"users", "policies", "audit", "auth",
}

// Actions are the actions a rule may list ("*" lists all).
var Actions = []string{"read", "create", "update", "delete", "cancel", "execute", "restore", "retry", "mfa", "password", "refresh", "logout"}

// Roles shipped with the product.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// Roles lists the built-in roles; users may carry other role names, which
// policies can test in conditions.
var Roles = []string{RoleAdmin, RoleOperator, RoleViewer}

// orchestratorKinds are the kinds of the orchestrator's data.
var orchestratorKinds = []string{"tasks", "servers", "taskservs", "clusters", "batches", "workflows", "system", "checkpoints", "rollbacks", "webhooks", "events"}

// grant is a built-in allowance: actions on kinds.
type grant struct {
	kinds, actions []string
}

// builtins are the built-in roles: admin may do everything; operator
// submits, cancels, checkpoints and rolls back, and reads all
// orchestrator data; viewer reads orchestrator data.
var builtins = map[string][]grant{
	RoleAdmin: {{kinds: []string{"*"}, actions: []string{"*"}}},
	RoleOperator: {
		{kinds: orchestratorKinds, actions: []string{"read"}},
		{kinds: []string{"servers", "taskservs", "clusters", "batches"}, actions: []string{"create"}},
		{kinds: []string{"tasks", "batches"}, actions: []string{"cancel"}},
		{kinds: []string{"checkpoints"}, actions: []string{"create"}},
		{kinds: []string{"rollbacks"}, actions: []string{"execute", "restore"}},
	},
	RoleViewer: {{kinds: orchestratorKinds, actions: []string{"read"}}},
}

// User, Request and Resource are what a condition sees as `user`,
// `request` and `resource`.
type User struct {
	ID       string   `cel:"id"`
	Username string   `cel:"username"`
	Roles    []string `cel:"roles"`
	// Role is the first role, "" when there is none.
	Role string `cel:"role"`
}

// Request describes the HTTP request being decided.
type Request struct {
	Method string `cel:"method"`
	Path   string `cel:"path"`
	IP     string `cel:"ip"`
	Action string `cel:"action"`
}

// Resource is what the request acts on: a kind and, for routes with an
// {id}, the id ("" otherwise).
type Resource struct {
	Kind string `cel:"kind"`
	ID   string `cel:"id"`
}

// Input is one access question: may User do Request.Action on Resource?
type Input struct {
	User     User
	Request  Request
	Resource Resource
}

// Decision is the answer, with the reason for logs and the audit log.
type Decision struct {
	Allowed bool
	Reason  string
}

// RuleError is a rule that cannot be saved; Field names it in the body
// (rules[2].condition) and Message says why, with the compiler's message
// for a bad condition.
type RuleError struct {
	Field, Message string
}

func (e *RuleError) Error() string { return e.Field + ": " + e.Message }

// PolicySource is the policy view (*projections.Policies).
type PolicySource interface {
	All() ([]Policy, uint64)
	Generation() uint64
}

// MaxConditionLen bounds a condition's source.
const MaxConditionLen = 2048

// conditionCostLimit bounds the work one condition may do per request.
const conditionCostLimit = 10000

// Evaluator decides access with the built-in roles and the enabled
// policies of Policies: a matching Deny rule whose condition holds (or
// cannot be evaluated) denies, whatever allows; otherwise a built-in role
// or a matching Allow rule whose condition holds allows; otherwise the
// answer is no. Compiled conditions are cached by policy id and version
// (the sequence of its last change), so a request pays an evaluation,
// never a compilation. Safe for concurrent use.
type Evaluator struct {
	policies PolicySource
	env      *cel.Env
	log      *slog.Logger

	set     atomic.Pointer[ruleSet]
	mu      sync.Mutex // one rebuild at a time
	byPolID map[string]*compiledPolicy
}

type compiledPolicy struct {
	seq   uint64
	rules []compiledRule
}

type compiledRule struct {
	policy  string
	effect  string
	kind    string
	pattern string
	actions []string
	program cel.Program // nil: always
	broken  bool        // failed to compile: a Deny that always matches, an Allow that never does
}

type ruleSet struct {
	generation  uint64
	deny, allow []compiledRule
}

// NewEvaluator returns an evaluator over policies.
func NewEvaluator(policies PolicySource, log *slog.Logger) (*Evaluator, error) {
	env, err := newCELEnv()
	if err != nil {
		return nil, err
	}
	return &Evaluator{policies: policies, env: env, log: log, byPolID: map[string]*compiledPolicy{}}, nil
}

func newCELEnv() (*cel.Env, error) {
	env, err := cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[User](), reflect.TypeFor[Request](), reflect.TypeFor[Resource](), ext.ParseStructTags(true)),
		cel.Variable("user", cel.ObjectType("auth.User")),
		cel.Variable("request", cel.ObjectType("auth.Request")),
		cel.Variable("resource", cel.ObjectType("auth.Resource")),
		ext.Strings(),
		cel.ParserExpressionSizeLimit(MaxConditionLen),
		cel.Function("inCIDR",
			cel.MemberOverload("string_inCIDR_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inCIDR))),
	)
	if err != nil {
		return nil, fmt.Errorf("policy environment: %w", err)
	}
	return env, nil
}

// inCIDR is `ip.inCIDR("10.0.0.0/8")`: whether an address lies in a
// prefix. A malformed prefix is an error (and a Deny then holds).
func inCIDR(lhs, rhs ref.Val) ref.Val {
	ip, ok1 := lhs.(types.String)
	cidr, ok2 := rhs.(types.String)
	if !ok1 || !ok2 {
		return types.NewErr("inCIDR takes strings")
	}
	prefix, err := netip.ParsePrefix(string(cidr))
	if err != nil {
		return types.NewErr("inCIDR: %q is not a CIDR prefix", string(cidr))
	}
	addr, err := netip.ParseAddr(string(ip))
	if err != nil {
		return types.False
	}
	return types.Bool(prefix.Contains(addr.Unmap()))
}

// CheckRules validates rules as a policy would be saved: effect Allow or
// Deny, resource kind:pattern with a known kind, known actions, and a
// condition that compiles to a boolean. It returns the first problem as a
// *RuleError, and canonical copies of the rules (effects capitalized).
func (e *Evaluator) CheckRules(rules []events.PolicyRule) ([]events.PolicyRule, error) {
	out := make([]events.PolicyRule, len(rules))
	for i, r := range rules {
		field := fmt.Sprintf("rules[%d]", i)
		c, err := e.compileRule("", r)
		if err != nil {
			err.Field = field + "." + err.Field
			return nil, err
		}
		r.Effect = c.effect
		r.Action = slices.Clone(r.Action)
		out[i] = r
	}
	return out, nil
}

func (e *Evaluator) compileRule(policy string, r events.PolicyRule) (compiledRule, *RuleError) {
	c := compiledRule{policy: policy}
	switch {
	case strings.EqualFold(r.Effect, Allow):
		c.effect = Allow
	case strings.EqualFold(r.Effect, Deny):
		c.effect = Deny
	default:
		return c, &RuleError{"effect", fmt.Sprintf("must be Allow or Deny, not %q", r.Effect)}
	}
	kind, pattern, ok := strings.Cut(r.Resource, ":")
	if !ok || kind == "" || pattern == "" {
		return c, &RuleError{"resource", fmt.Sprintf("must be kind:pattern such as servers:* or tasks:01J..., not %q", r.Resource)}
	}
	if kind != "*" && !slices.Contains(Kinds, kind) {
		return c, &RuleError{"resource", fmt.Sprintf("kind %q is unknown; kinds are * and %s", kind, strings.Join(Kinds, ", "))}
	}
	c.kind, c.pattern = kind, pattern
	if len(r.Action) == 0 {
		return c, &RuleError{"action", "must list at least one action"}
	}
	for _, a := range r.Action {
		if a != "*" && !slices.Contains(Actions, a) {
			return c, &RuleError{"action", fmt.Sprintf("action %q is unknown; actions are * and %s", a, strings.Join(Actions, ", "))}
		}
	}
	c.actions = slices.Clone(r.Action)
	if strings.TrimSpace(r.Condition) == "" {
		return c, nil
	}
	if len(r.Condition) > MaxConditionLen {
		return c, &RuleError{"condition", fmt.Sprintf("must be at most %d characters", MaxConditionLen)}
	}
	ast, iss := e.env.Compile(r.Condition)
	if iss.Err() != nil {
		return c, &RuleError{"condition", "does not compile: " + iss.Err().Error()}
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return c, &RuleError{"condition", fmt.Sprintf("must be a boolean expression, not %s", ast.OutputType())}
	}
	prg, err := e.env.Program(ast, cel.CostLimit(conditionCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return c, &RuleError{"condition", "cannot be evaluated: " + err.Error()}
	}
	c.program = prg
	return c, nil
}

// Decide answers one access question with the current policies.
func (e *Evaluator) Decide(in Input) Decision {
	return e.current().decide(in)
}

// DecideWith answers as if the policies were candidate (used before
// saving a change, to refuse one that would lock its author out).
func (e *Evaluator) DecideWith(candidate []Policy, in Input) Decision {
	e.mu.Lock()
	compiled := e.byPolID // replaced, never changed, by current
	e.mu.Unlock()
	set := &ruleSet{}
	for _, p := range candidate {
		if !p.Enabled {
			continue
		}
		// Stored policies are compiled already; the changed one (not
		// stored yet: no sequence) is compiled here.
		cp, ok := compiled[p.ID]
		if !ok || p.Seq == 0 || cp.seq != p.Seq {
			cp = e.compilePolicy(p)
		}
		set.add(cp.rules)
	}
	return set.decide(in)
}

// current returns the compiled rules of the view's generation, rebuilding
// them (recompiling only changed policies) when the view moved on.
func (e *Evaluator) current() *ruleSet {
	gen := e.policies.Generation()
	if s := e.set.Load(); s != nil && s.generation == gen {
		return s
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.set.Load(); s != nil && s.generation == gen {
		return s
	}
	all, gen := e.policies.All()
	set := &ruleSet{generation: gen}
	keep := make(map[string]*compiledPolicy, len(all))
	for _, p := range all {
		cp, ok := e.byPolID[p.ID]
		if !ok || cp.seq != p.Seq {
			cp = e.compilePolicy(p)
		}
		keep[p.ID] = cp
		if p.Enabled {
			set.add(cp.rules)
		}
	}
	e.byPolID = keep
	e.set.Store(set)
	return set
}

func (e *Evaluator) compilePolicy(p Policy) *compiledPolicy {
	cp := &compiledPolicy{seq: p.Seq}
	for i, r := range p.Rules {
		c, err := e.compileRule(p.ID, r)
		if err != nil {
			// Saved policies were checked; this one may predate a change
			// of the condition language. Fail closed.
			if e.log != nil {
				e.log.Error("policy rule does not compile; a Deny now always holds, an Allow never does",
					"policy", p.ID, "rule", i, "err", err)
			}
			c = compiledRule{policy: p.ID, effect: Deny, kind: "*", pattern: "*", actions: []string{"*"}, broken: true}
			if !strings.EqualFold(r.Effect, Deny) {
				c.effect = Allow
			}
		}
		cp.rules = append(cp.rules, c)
	}
	return cp
}

func (s *ruleSet) add(rules []compiledRule) {
	for _, r := range rules {
		if r.effect == Deny {
			s.deny = append(s.deny, r)
		} else {
			s.allow = append(s.allow, r)
		}
	}
}

func (s *ruleSet) decide(in Input) Decision {
	vars := &activation{in: &in}
	for i := range s.deny {
		r := &s.deny[i]
		if !r.matches(in) {
			continue
		}
		if holds, err := r.holds(vars); holds || err != nil {
			return Decision{Reason: "denied by policy " + r.policy}
		}
	}
	if role, ok := builtinAllows(in); ok {
		return Decision{Allowed: true, Reason: "role " + role}
	}
	for i := range s.allow {
		r := &s.allow[i]
		if r.broken || !r.matches(in) {
			continue
		}
		if holds, err := r.holds(vars); holds && err == nil {
			return Decision{Allowed: true, Reason: "allowed by policy " + r.policy}
		}
	}
	return Decision{Reason: "no role or policy allows " + in.Resource.Kind + ":" + in.Request.Action}
}

func (r *compiledRule) matches(in Input) bool {
	if r.kind != "*" && r.kind != in.Resource.Kind {
		return false
	}
	if !slices.Contains(r.actions, "*") && !slices.Contains(r.actions, in.Request.Action) {
		return false
	}
	return r.pattern == "*" || Glob(r.pattern, in.Resource.ID)
}

func (r *compiledRule) holds(vars *activation) (bool, error) {
	if r.broken {
		return true, nil
	}
	if r.program == nil {
		return true, nil
	}
	out, _, err := r.program.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	return ok && bool(b), nil
}

// builtinAllows reports the first of the user's built-in roles that
// allows the request, and the allowances every signed-in user has: to
// refresh and end their own session, and to read, enrol MFA for and
// change the password of their own account.
func builtinAllows(in Input) (string, bool) {
	for _, role := range in.User.Roles {
		for _, g := range builtins[role] {
			if (slices.Contains(g.kinds, "*") || slices.Contains(g.kinds, in.Resource.Kind)) &&
				(slices.Contains(g.actions, "*") || slices.Contains(g.actions, in.Request.Action)) {
				return role, true
			}
		}
	}
	switch {
	case in.Resource.Kind == "auth" && (in.Request.Action == "refresh" || in.Request.Action == "logout"):
		return "any signed-in user", true
	case in.Resource.Kind == "users" && in.Resource.ID != "" && in.Resource.ID == in.User.ID &&
		(in.Request.Action == "read" || in.Request.Action == "mfa" || in.Request.Action == "password"):
		return "self", true
	}
	return "", false
}

// Glob matches s against a pattern where * stands for any run of
// characters (and nothing else is special).
func Glob(pattern, s string) bool {
	for {
		star := strings.IndexByte(pattern, '*')
		if star < 0 {
			return pattern == s
		}
		if !strings.HasPrefix(s, pattern[:star]) {
			return false
		}
		s, pattern = s[star:], pattern[star+1:]
		if pattern == "" {
			return true
		}
		for i := 0; i <= len(s); i++ {
			if Glob(pattern, s[i:]) {
				return true
			}
		}
		return false
	}
}

// activation resolves the three condition variables without building a
// map per request.
type activation struct{ in *Input }

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "user":
		return &a.in.User, true
	case "request":
		return &a.in.Request, true
	case "resource":
		return &a.in.Resource, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
