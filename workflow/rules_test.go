package workflow_test

import (
	"errors"
	"strings"
	"testing"

	"provisioning/events"
	"provisioning/workflow"
)

// Settings are relative paths inside the CLI's workspace; an operator may
// admit absolute paths under one root, and never a path climbing out.
func TestSettingsPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, root, settings string
		ok                   bool
	}{
		{"relative file", "", "config.ncl", true},
		{"relative path", "", "infra/prod/config.ncl", true},
		{"dot first", "", "./config.ncl", true},
		{"dots in names", "", "a..b/c..ncl", true},
		{"absolute", "", "/etc/shadow", false},
		{"climbing out", "", "../secrets.ncl", false},
		{"climbing in the middle", "", "infra/../../etc/passwd", false},
		{"climbing and coming back", "", "infra/../config.ncl", false},
		{"just dots", "", "..", false},
		{"double slash absolute", "", "//etc/shadow", false},
		{"inside the root", "/srv/infra", "/srv/infra/prod/config.ncl", true},
		{"relative with a root", "/srv/infra", "config.ncl", true},
		{"the root's sibling", "/srv/infra", "/srv/infrastructure/x.ncl", false},
		{"outside the root", "/srv/infra", "/etc/shadow", false},
		{"climbing out of the root", "/srv/infra", "/srv/infra/../../etc/shadow", false},
		{"root with a trailing slash", "/srv/infra/", "/srv/infra/x.ncl", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rules := workflow.Rules{SettingsRoot: tc.root}
			_, err := workflow.ServersRequest{Infra: "p", Settings: tc.settings}.Spec(rules)
			if tc.ok {
				if err != nil {
					t.Fatalf("%q refused: %v", tc.settings, err)
				}
				return
			}
			var v *workflow.ValidationError
			if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != "settings" {
				t.Fatalf("%q: err = %v, want a 422 naming settings", tc.settings, err)
			}
		})
	}
}

// Before running anything an executor checks a job with the API's rules:
// the spec, and that the command is the one the spec makes. A forged or
// corrupted TaskCreated runs nothing.
func TestCheckJob(t *testing.T) {
	t.Parallel()
	rules := workflow.Rules{}
	good := workflow.TaskCreated("01T", events.TaskSpec{Workflow: "servers", Operation: "create", Infra: "prod", Settings: "config.ncl", Wait: true}, "cli", 60)
	if err := rules.CheckJob(good); err != nil {
		t.Fatalf("a job the API made is refused: %v", err)
	}
	batchTask := workflow.TaskCreated("01U", events.TaskSpec{Workflow: "servers", Operation: "delete", Infra: "prod", Provider: "upcloud",
		Server: map[string]string{"name": "web-01", "plan": "1xCPU-2 GB", "zone": "de-fra1"}, Wait: true}, "cli", 60)
	if err := rules.CheckJob(batchTask); err != nil {
		t.Fatalf("a batch compensation is refused: %v", err)
	}
	forge := func(change func(*events.TaskCreatedData)) events.TaskCreatedData {
		d := good
		d.Spec.Server = nil
		d.Subcommand, d.Args = append([]string{}, good.Subcommand...), append([]string{}, good.Args...)
		change(&d)
		return d
	}
	tests := []struct {
		name    string
		job     events.TaskCreatedData
		mention string
	}{
		{"args not the spec's", forge(func(d *events.TaskCreatedData) { d.Args = append(d.Args, "--settings", "/etc/shadow") }), "command"},
		{"subcommand not the spec's", forge(func(d *events.TaskCreatedData) { d.Subcommand = []string{"servers", "delete"} }), "command"},
		{"absolute settings", forge(func(d *events.TaskCreatedData) {
			d.Spec.Settings = "/etc/shadow"
			d.Subcommand, d.Args = workflow.Command(d.Spec)
		}), "spec.settings"},
		{"infra like a flag", forge(func(d *events.TaskCreatedData) {
			d.Spec.Infra = "--rm"
			d.Subcommand, d.Args = workflow.Command(d.Spec)
		}), "spec.infra"},
		{"unknown workflow", forge(func(d *events.TaskCreatedData) {
			d.Spec.Workflow = "shell"
			d.Subcommand, d.Args = workflow.Command(d.Spec)
		}), "spec.workflow"},
		{"unknown server setting", forge(func(d *events.TaskCreatedData) {
			d.Spec.Server = map[string]string{"name": "w", "exec": "sh"}
			d.Subcommand, d.Args = workflow.Command(d.Spec)
		}), "spec.server.exec"},
		{"target on servers", forge(func(d *events.TaskCreatedData) {
			d.Spec.Target = "x"
			d.Subcommand, d.Args = workflow.Command(d.Spec)
		}), "spec.target"},
		{"taskserv without a name", forge(func(d *events.TaskCreatedData) {
			d.Spec.Workflow = "taskserv"
			d.Subcommand, d.Args = workflow.Command(d.Spec)
		}), "spec.target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := rules.CheckJob(tc.job)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("CheckJob = %v, want an error mentioning %q", err, tc.mention)
			}
		})
	}
}
