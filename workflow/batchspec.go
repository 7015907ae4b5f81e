package workflow

import (
	"fmt"
	"sort"
	"strings"

	"provisioning/events"
)

// Bounds of one batch. The whole validated spec is one BatchCreated event
// (the request body is at most 1 MiB, the event store takes 8 MiB), and
// the coordinator keeps every batch's state in memory, so a batch may hold
// at most MaxOperations operations expanding to at most MaxTasks tasks,
// with at most MaxTaskEdges task-to-task dependencies (an operation of n
// tasks depending on one of m parallel tasks counts n×m).
const (
	MaxOperations        = 10000
	MaxTasks             = 20000
	MaxTaskEdges         = 200000
	MaxParallelLimit     = 1000
	DefaultParallelLimit = 10
)

// Storage backends the batch field storage_backend accepts. The event
// store is always JetStream; the others are recorded for compatibility.
const DefaultStorageBackend = "jetstream"

var storageBackends = []string{"jetstream", "filesystem", "surrealdb"}

// serverConfigKeys are the keys of a server_configs entry: each becomes
// the CLI flag of the same name.
var serverConfigKeys = []string{"name", "plan", "zone", "image", "storage", "hostname"}

// BatchRequest is the body of POST /batch/execute.
type BatchRequest struct {
	Name            string             `json:"name"`
	Version         string             `json:"version"`
	StorageBackend  string             `json:"storage_backend"`
	ParallelLimit   *int               `json:"parallel_limit"`
	RollbackEnabled bool               `json:"rollback_enabled"`
	Infra           string             `json:"infra"`
	Settings        string             `json:"settings"`
	Operations      []OperationRequest `json:"operations"`
}

// OperationRequest is one operation of a BatchRequest. Infra and Settings
// override the batch's for this operation's tasks.
type OperationRequest struct {
	ID            string              `json:"id"`
	Type          string              `json:"type"`
	Provider      string              `json:"provider"`
	Dependencies  []string            `json:"dependencies"`
	Infra         string              `json:"infra"`
	Settings      string              `json:"settings"`
	ServerConfigs []map[string]string `json:"server_configs"`
	Taskservs     []string            `json:"taskservs"`
	Clusters      []string            `json:"clusters"`
}

// Batch validates the request with rules and returns the batch it asks for, with its
// defaults resolved: storage_backend "jetstream", parallel_limit
// DefaultParallelLimit, infra the batch's name. Every problem is reported
// with its field (operations[2].dependencies[0]) and a cycle with its path.
func (r BatchRequest) Batch(id string, rules Rules) (events.BatchCreatedData, error) {
	var v ValidationError
	b := events.BatchCreatedData{
		BatchID: id, Name: r.Name, Version: r.Version, StorageBackend: r.StorageBackend,
		ParallelLimit: DefaultParallelLimit, RollbackEnabled: r.RollbackEnabled,
		Infra: r.Infra, Settings: r.Settings,
	}
	v.CheckName("name", r.Name, true)
	v.CheckName("version", r.Version, false)
	if b.StorageBackend == "" {
		b.StorageBackend = DefaultStorageBackend
	} else {
		v.CheckOneOf("storage_backend", b.StorageBackend, storageBackends...)
	}
	if r.ParallelLimit != nil {
		b.ParallelLimit = *r.ParallelLimit
		if b.ParallelLimit < 1 || b.ParallelLimit > MaxParallelLimit {
			v.Add("parallel_limit", "must be from 1 to %d, not %d", MaxParallelLimit, b.ParallelLimit)
		}
	}
	if b.Infra == "" {
		b.Infra = r.Name
	} else {
		v.CheckName("infra", r.Infra, false)
	}
	v.CheckSettings("settings", r.Settings, rules)
	switch {
	case len(r.Operations) == 0:
		v.Add("operations", "is required: a batch holds at least one operation")
	case len(r.Operations) > MaxOperations:
		v.Add("operations", "holds %d operations; a batch holds at most %d", len(r.Operations), MaxOperations)
	default:
		b.Operations = checkOperations(&v, r.Operations, b, rules)
	}
	if err := v.Err(); err != nil {
		return events.BatchCreatedData{}, err
	}
	return b, nil
}

// checkOperations validates each operation, then the graph they form.
func checkOperations(v *ValidationError, reqs []OperationRequest, b events.BatchCreatedData, rules Rules) []events.BatchOperation {
	ops := make([]events.BatchOperation, len(reqs))
	index := make(map[string]int, len(reqs))
	for i, req := range reqs {
		ops[i] = checkOperation(v, fmt.Sprintf("operations[%d]", i), req, b, rules)
		if req.ID == "" {
			continue
		}
		if j, dup := index[req.ID]; dup {
			v.Add(fmt.Sprintf("operations[%d].id", i), "%q is already the id of operations[%d]", req.ID, j)
			continue
		}
		index[req.ID] = i
	}
	tasks := 0
	for _, op := range ops {
		tasks += TaskCount(op)
	}
	if tasks > MaxTasks {
		v.Add("operations", "expand to %d tasks; a batch holds at most %d", tasks, MaxTasks)
	}
	checkDependencies(v, ops, index)
	if len(v.Fields) == 0 {
		if edges := taskEdges(ops, index); edges > MaxTaskEdges {
			v.Add("operations", "dependencies expand to %d task dependencies; a batch holds at most %d", edges, MaxTaskEdges)
		} else if cycle := findCycle(ops, index); cycle != nil {
			v.Add("operations", "cycle: %s", strings.Join(cycle, " -> "))
		}
	}
	resources := map[string]string{}
	for i, op := range ops {
		checkResources(v, fmt.Sprintf("operations[%d]", i), op, resources)
	}
	return ops
}

func checkOperation(v *ValidationError, field string, req OperationRequest, b events.BatchCreatedData, rules Rules) events.BatchOperation {
	op := events.BatchOperation{
		ID: req.ID, Type: req.Type, Provider: req.Provider, Dependencies: req.Dependencies,
		Infra: req.Infra, Settings: req.Settings,
	}
	if op.Dependencies == nil {
		op.Dependencies = []string{}
	}
	v.CheckName(field+".id", req.ID, true)
	v.CheckOneOf(field+".type", req.Type, events.OpServerBatch, events.OpTaskservBatch, events.OpClusterBatch)
	v.CheckName(field+".provider", req.Provider, false)
	v.CheckName(field+".infra", req.Infra, false)
	v.CheckSettings(field+".settings", req.Settings, rules)
	if op.Infra == "" {
		op.Infra = b.Infra
	}
	if op.Settings == "" {
		op.Settings = b.Settings
	}
	unused := func(name string, n int) {
		if n > 0 {
			v.Add(field+"."+name, "is not used by a %s operation", req.Type)
		}
	}
	switch req.Type {
	case events.OpServerBatch:
		unused("taskservs", len(req.Taskservs))
		unused("clusters", len(req.Clusters))
		op.ServerConfigs = checkServerConfigs(v, field+".server_configs", req.ServerConfigs)
	case events.OpTaskservBatch:
		unused("server_configs", len(req.ServerConfigs))
		unused("clusters", len(req.Clusters))
		op.Taskservs = checkNames(v, field+".taskservs", req.Taskservs)
	case events.OpClusterBatch:
		unused("server_configs", len(req.ServerConfigs))
		unused("taskservs", len(req.Taskservs))
		op.Clusters = checkNames(v, field+".clusters", req.Clusters)
	}
	return op
}

func checkServerConfigs(v *ValidationError, field string, cfgs []map[string]string) []map[string]string {
	if len(cfgs) == 0 {
		v.Add(field, "is required: a server_batch creates at least one server")
		return nil
	}
	if len(cfgs) > MaxTasks {
		v.Add(field, "holds %d servers; a batch holds at most %d tasks", len(cfgs), MaxTasks)
		return nil
	}
	out := make([]map[string]string, len(cfgs))
	for i, cfg := range cfgs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if cfg == nil {
			v.Add(f, "must be an object with at least a name")
			continue
		}
		checkServerConfig(v, f, cfg)
		out[i] = cfg
	}
	return out
}

// checkServerConfig validates one server's settings: known keys, a name,
// values that are each one harmless CLI argument.
func checkServerConfig(v *ValidationError, field string, cfg map[string]string) {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := cfg[k]
		switch {
		case !knownKey(k):
			v.Add(field+"."+k, "is not a server setting (%s)", strings.Join(serverConfigKeys, ", "))
		case k == "name":
			v.CheckName(field+".name", val, true)
		default:
			v.CheckValue(field+"."+k, val)
		}
	}
	if _, ok := cfg["name"]; !ok {
		v.Add(field+".name", "is required")
	}
}

func knownKey(k string) bool {
	for _, s := range serverConfigKeys {
		if k == s {
			return true
		}
	}
	return false
}

func checkNames(v *ValidationError, field string, names []string) []string {
	if len(names) == 0 {
		v.Add(field, "is required: name at least one")
		return nil
	}
	if len(names) > MaxTasks {
		v.Add(field, "holds %d names; a batch holds at most %d tasks", len(names), MaxTasks)
		return nil
	}
	for i, n := range names {
		v.CheckName(fmt.Sprintf("%s[%d]", field, i), n, true)
	}
	return names
}

// checkResources refuses two tasks of one batch that create the same thing
// (the same server, taskserv or cluster of one infra): the second would do
// nothing and a rollback would delete it twice.
func checkResources(v *ValidationError, field string, op events.BatchOperation, seen map[string]string) {
	add := func(f, key string) {
		if prev, dup := seen[key]; dup {
			v.Add(f, "creates the same resource as %s", prev)
			return
		}
		seen[key] = f
	}
	for i, cfg := range op.ServerConfigs {
		if cfg != nil && cfg["name"] != "" {
			add(fmt.Sprintf("%s.server_configs[%d].name", field, i), "servers/"+op.Infra+"/"+cfg["name"])
		}
	}
	for i, t := range op.Taskservs {
		add(fmt.Sprintf("%s.taskservs[%d]", field, i), "taskserv/"+op.Infra+"/"+t)
	}
	for i, c := range op.Clusters {
		add(fmt.Sprintf("%s.clusters[%d]", field, i), "cluster/"+op.Infra+"/"+c)
	}
}

func checkDependencies(v *ValidationError, ops []events.BatchOperation, index map[string]int) {
	for i, op := range ops {
		seen := map[string]bool{}
		for j, dep := range op.Dependencies {
			f := fmt.Sprintf("operations[%d].dependencies[%d]", i, j)
			_, known := index[dep]
			switch {
			case dep == "":
				v.Add(f, "is empty")
			case !known:
				v.Add(f, "names unknown operation %q", truncate(dep, MaxNameLen))
			case seen[dep]:
				v.Add(f, "names %q twice", dep)
			}
			seen[dep] = true
		}
	}
}

// findCycle returns one dependency cycle as a path of operation ids that
// ends where it starts, or nil. Kahn's algorithm removes every operation
// that can run; whatever remains lies on or behind a cycle, and walking
// dependencies from one of them must revisit an operation.
func findCycle(ops []events.BatchOperation, index map[string]int) []string {
	remaining := make([]int, len(ops))
	dependents := make([][]int, len(ops))
	for i, op := range ops {
		remaining[i] = len(op.Dependencies)
		for _, d := range op.Dependencies {
			dependents[index[d]] = append(dependents[index[d]], i)
		}
	}
	queue := []int{}
	for i, n := range remaining {
		if n == 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, j := range dependents[i] {
			if remaining[j]--; remaining[j] == 0 {
				queue = append(queue, j)
			}
		}
	}
	start := -1
	for i, n := range remaining {
		if n > 0 {
			start = i
			break
		}
	}
	if start < 0 {
		return nil
	}
	// Follow a dependency that is itself stuck until an operation repeats.
	pos := map[int]int{}
	var path []int
	for i := start; ; {
		if at, seen := pos[i]; seen {
			return cyclePath(ops, path[at:])
		}
		pos[i] = len(path)
		path = append(path, i)
		for _, d := range ops[i].Dependencies {
			if j := index[d]; remaining[j] > 0 {
				i = j
				break
			}
		}
	}
}

// cyclePath presents a cycle found by following dependencies in the
// order work would flow (a -> b: b waits for a), starting at the
// operation listed first in the batch.
func cyclePath(ops []events.BatchOperation, deps []int) []string {
	n := len(deps)
	first := 0
	for k, i := range deps {
		if i < deps[first] {
			first = k
		}
	}
	out := make([]string, 0, n+1)
	for k := 0; k <= n; k++ {
		out = append(out, ops[deps[(first-k+n)%n]].ID)
	}
	return out
}

// taskEdges counts the task-to-task dependencies the operations expand to.
func taskEdges(ops []events.BatchOperation, index map[string]int) int {
	total := 0
	for _, op := range ops {
		if Sequential(op) {
			total += TaskCount(op) - 1
		}
		exits := 0
		for _, d := range op.Dependencies {
			exits += len(exitIndexes(ops[index[d]]))
		}
		total += len(entryIndexes(op)) * exits
	}
	return total
}

// TaskSpecs expands an operation into the specs of its tasks, in order
// (see TaskSpecAt): one per entry of the list its type names.
func TaskSpecs(op events.BatchOperation) []events.TaskSpec {
	var n int
	switch op.Type {
	case events.OpServerBatch:
		n = len(op.ServerConfigs)
	case events.OpTaskservBatch:
		n = len(op.Taskservs)
	case events.OpClusterBatch:
		n = len(op.Clusters)
	}
	var out []events.TaskSpec
	for i := range n {
		out = append(out, TaskSpecAt(op, i))
	}
	return out
}

// TaskCount is how many tasks an operation expands to.
func TaskCount(op events.BatchOperation) int {
	return len(op.ServerConfigs) + len(op.Taskservs) + len(op.Clusters)
}

// Sequential reports whether an operation's tasks run one after the other
// (taskservs, in list order: cilium needs kubernetes) rather than in
// parallel (servers, clusters).
func Sequential(op events.BatchOperation) bool { return op.Type == events.OpTaskservBatch }

// entryIndexes are the tasks of op that wait for its dependencies; its
// other tasks wait for the previous one of op.
func entryIndexes(op events.BatchOperation) []int {
	if Sequential(op) {
		return []int{0}
	}
	return seq(TaskCount(op))
}

// exitIndexes are the tasks of op its dependents wait for.
func exitIndexes(op events.BatchOperation) []int {
	n := TaskCount(op)
	if Sequential(op) {
		return []int{n - 1}
	}
	return seq(n)
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
