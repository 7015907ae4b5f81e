package workflow

import "provisioning/events"

// ServersRequest is the body of POST /workflows/servers/create.
type ServersRequest struct {
	Infra     string `json:"infra"`
	Settings  string `json:"settings"`
	CheckMode bool   `json:"check_mode"`
	Wait      bool   `json:"wait"`
}

// Spec validates the request with rules and returns the task it asks for.
func (r ServersRequest) Spec(rules Rules) (events.TaskSpec, error) {
	var v ValidationError
	v.CheckName("infra", r.Infra, true)
	v.CheckSettings("settings", r.Settings, rules)
	return events.TaskSpec{Workflow: Servers, Operation: OpCreate, Infra: r.Infra, Settings: r.Settings,
		CheckMode: r.CheckMode, Wait: r.Wait}, v.Err()
}

// TaskservRequest is the body of POST /workflows/taskserv/create.
type TaskservRequest struct {
	Operation string `json:"operation"`
	Taskserv  string `json:"taskserv"`
	Infra     string `json:"infra"`
	Settings  string `json:"settings"`
	CheckMode bool   `json:"check_mode"`
	Wait      bool   `json:"wait"`
}

// Spec validates the request with rules and returns the task it asks for.
func (r TaskservRequest) Spec(rules Rules) (events.TaskSpec, error) {
	var v ValidationError
	r.Operation = defaultOperation(r.Operation)
	v.CheckOneOf("operation", r.Operation, OpCreate, OpDelete)
	v.CheckName("taskserv", r.Taskserv, true)
	v.CheckName("infra", r.Infra, true)
	v.CheckSettings("settings", r.Settings, rules)
	return events.TaskSpec{Workflow: Taskserv, Operation: r.Operation, Target: r.Taskserv, Infra: r.Infra,
		Settings: r.Settings, CheckMode: r.CheckMode, Wait: r.Wait}, v.Err()
}

// ClusterRequest is the body of POST /workflows/cluster/create.
type ClusterRequest struct {
	Operation   string `json:"operation"`
	ClusterType string `json:"cluster_type"`
	Infra       string `json:"infra"`
	Settings    string `json:"settings"`
	CheckMode   bool   `json:"check_mode"`
	Wait        bool   `json:"wait"`
}

// Spec validates the request with rules and returns the task it asks for.
func (r ClusterRequest) Spec(rules Rules) (events.TaskSpec, error) {
	var v ValidationError
	r.Operation = defaultOperation(r.Operation)
	v.CheckOneOf("operation", r.Operation, OpCreate, OpDelete)
	v.CheckName("cluster_type", r.ClusterType, true)
	v.CheckName("infra", r.Infra, true)
	v.CheckSettings("settings", r.Settings, rules)
	return events.TaskSpec{Workflow: Cluster, Operation: r.Operation, Target: r.ClusterType, Infra: r.Infra,
		Settings: r.Settings, CheckMode: r.CheckMode, Wait: r.Wait}, v.Err()
}

// defaultOperation: the endpoints are …/create, so an absent operation
// means create.
func defaultOperation(op string) string {
	if op == "" {
		return OpCreate
	}
	return op
}
