package workflow

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"provisioning/events"
)

// Rules are the operator's choices that validation depends on. The zero
// value is the default: settings relative to the CLI's workspace only.
// The API validates submissions with them and the executors validate
// every job with the same ones before running it.
type Rules struct {
	// SettingsRoot, when set (an absolute directory), also admits
	// absolute settings paths inside it.
	SettingsRoot string
}

// insideRoot reports whether the absolute path p lies in the settings
// root (p holds no ".." segment: CheckSettings refused those first).
func (r Rules) insideRoot(p string) bool {
	root := path.Clean(r.SettingsRoot)
	p = path.Clean(p)
	return p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

// CheckSpec validates a task spec with the rules a submission passes:
// every word the CLI will see is a name or a value the API would accept.
// Fields are named spec.<field>.
func (r Rules) CheckSpec(s events.TaskSpec) error {
	var v ValidationError
	v.CheckOneOf("spec.workflow", s.Workflow, Servers, Taskserv, Cluster)
	v.CheckOneOf("spec.operation", s.Operation, OpCreate, OpDelete)
	switch {
	case s.Workflow == Servers && s.Target != "":
		v.Add("spec.target", "is not used by the servers workflow")
	case s.Workflow == Taskserv || s.Workflow == Cluster:
		v.CheckName("spec.target", s.Target, true)
	}
	v.CheckName("spec.infra", s.Infra, true)
	v.CheckSettings("spec.settings", s.Settings, r)
	v.CheckName("spec.provider", s.Provider, false)
	switch {
	case len(s.Server) > 0 && s.Workflow != Servers:
		v.Add("spec.server", "is used by the servers workflow only")
	case len(s.Server) > 0:
		checkServerConfig(&v, "spec.server", s.Server)
	}
	return v.Err()
}

// CheckJob validates a job before an executor runs it: its spec passes
// CheckSpec, and the subcommand and arguments it carries are exactly the
// ones the spec makes. Anyone who could append a TaskCreated without the
// API (a forged or corrupted event) runs nothing this way.
func (r Rules) CheckJob(d events.TaskCreatedData) error {
	if err := r.CheckSpec(d.Spec); err != nil {
		return err
	}
	sub, args := Command(d.Spec)
	if !slices.Equal(sub, d.Subcommand) || !slices.Equal(args, d.Args) {
		return fmt.Errorf("the job's command %q is not the one its spec makes (%q)",
			strings.Join(append(slices.Clone(d.Subcommand), d.Args...), " "), strings.Join(append(sub, args...), " "))
	}
	return nil
}
