package outward

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"provisioning/events"
)

// statusChanged is the suffix of the types whose name comes from their
// status: TaskStatusChanged{Completed} is task.completed.
const statusChanged = "StatusChanged"

// Statuses are the statuses a *StatusChanged event may carry.
var Statuses = []string{
	events.StatusPending, events.StatusRunning, events.StatusCompleted, events.StatusFailed,
	events.StatusCancelled, events.StatusSkipped, events.StatusRolledBack,
}

// Name is an event's dotted lower-case name, the first word of its type
// then the rest in snake case, except for *StatusChanged events, named
// after their new status:
//
//	TaskCreated                         task.created
//	TaskStatusChanged{Running}          task.running
//	TaskStatusChanged{Completed}        task.completed
//	TaskProgress                        task.progress
//	TaskCancelRequested                 task.cancel_requested
//	BatchStatusChanged{RolledBack}      batch.rolled_back
//	OperationStatusChanged{Skipped}     operation.skipped
//	CheckpointCreated                   checkpoint.created
//	RollbackCompleted                   rollback.completed
func Name(env events.Envelope) string { return Parse(env).Name }

func split(t events.Type) (noun, rest string) {
	w := words(string(t))
	if len(w) == 0 {
		return "", ""
	}
	return strings.ToLower(w[0]), strings.Join(w[1:], "")
}

// contractTypes are the event types our published API names (the
// WebSocket and webhook docs). Their names are
// valid subscriptions even in a build that does not register them yet
// (the reference's configuration subscribes to batch.completed).
var contractTypes = []events.Type{"TaskCreated", "TaskStatusChanged", "TaskProgress", "BatchCreated",
	"BatchStatusChanged", "OperationStatusChanged", "CheckpointCreated", "RollbackCompleted"}

// Names lists every name an event of this binary (or of the contract)
// can have, sorted.
func Names() []string {
	set := map[string]bool{}
	for _, t := range append(events.KnownTypes(), contractTypes...) {
		if InternalType(t) {
			continue
		}
		noun, rest := split(t)
		if rest == statusChanged {
			for _, s := range Statuses {
				set[noun+"."+snake(s)] = true
			}
			continue
		}
		set[noun+"."+snake(rest)] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Match reports whether the name of an event matches a subscription
// pattern: "*" matches everything, "task.*" every task event, anything
// else only itself.
func Match(pattern, name string) bool {
	if pattern == "*" || pattern == name {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, ".*"); ok {
		return strings.HasPrefix(name, prefix+".")
	}
	return false
}

var patternSyntax = regexp.MustCompile(`^(\*|[a-z][a-z0-9_]*\.(\*|[a-z][a-z0-9_]*))$`)

// CheckPattern refuses a pattern that can never match: bad syntax, or a
// name or noun no event of this binary has.
func CheckPattern(p string) error {
	if !patternSyntax.MatchString(p) {
		return fmt.Errorf("%q is not an event name: use \"*\", \"<noun>.*\" or a name like \"task.completed\"", p)
	}
	if p == "*" {
		return nil
	}
	names := Names()
	for _, n := range names {
		if Match(p, n) {
			return nil
		}
	}
	return fmt.Errorf("%q matches no event; known names: %s", p, strings.Join(names, ", "))
}
