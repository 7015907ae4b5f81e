package workflow

import (
	"sort"

	"provisioning/events"
)

// Workflows and operations the CLI knows.
const (
	Servers  = "servers"
	Taskserv = "taskserv"
	Cluster  = "cluster"

	OpCreate = "create"
	OpDelete = "delete"
)

// Command is the CLI invocation of a spec: the subcommand words and the
// arguments, in the order the CLI documents.
func Command(s events.TaskSpec) (subcommand, args []string) {
	subcommand = []string{s.Workflow, s.Operation}
	if s.Target != "" {
		subcommand = append(subcommand, s.Target)
	}
	args = []string{"--infra", s.Infra}
	if s.Settings != "" {
		args = append(args, "--settings", s.Settings)
	}
	if s.Provider != "" {
		args = append(args, "--provider", s.Provider)
	}
	keys := make([]string, 0, len(s.Server))
	for k := range s.Server {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--"+k, s.Server[k])
	}
	if s.CheckMode {
		args = append(args, "--check")
	}
	if s.Wait {
		args = append(args, "--wait")
	}
	return subcommand, args
}

// Name is a task's readable name: create_servers, create_taskserv_cilium,
// delete_server_web-01, …
func Name(s events.TaskSpec) string {
	switch {
	case s.Server["name"] != "":
		return s.Operation + "_server_" + s.Server["name"]
	case s.Target != "":
		return s.Operation + "_" + s.Workflow + "_" + s.Target
	}
	return s.Operation + "_" + s.Workflow
}

// TaskCreated builds the payload of a new task running spec with the CLI
// cli (shown at the start of the view's command).
func TaskCreated(id string, s events.TaskSpec, cli string, timeoutSeconds int) events.TaskCreatedData {
	sub, args := Command(s)
	return events.TaskCreatedData{
		TaskID:         id,
		Name:           Name(s),
		Spec:           s,
		CLI:            cli,
		Subcommand:     sub,
		Args:           args,
		Dependencies:   []string{},
		TimeoutSeconds: timeoutSeconds,
	}
}

// Undo is the spec that compensates s: the delete of what s created.
func Undo(s events.TaskSpec) events.TaskSpec {
	u := s
	u.Operation = OpDelete
	u.CheckMode = false
	return u
}
