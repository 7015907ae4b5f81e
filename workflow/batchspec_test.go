package workflow_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"provisioning/events"
	"provisioning/workflow"
)

func decodeBatch(t *testing.T, body string) workflow.BatchRequest {
	t.Helper()
	var r workflow.BatchRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReferenceBatchValidates(t *testing.T) {
	t.Parallel()
	b, err := decodeBatch(t, referenceBatch(t)).Batch("01BATCH", workflow.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if b.ParallelLimit != 5 || !b.RollbackEnabled || b.StorageBackend != "surrealdb" || b.Infra != "multi_cloud_deployment" {
		t.Fatalf("batch %+v", b)
	}
	specs := workflow.TaskSpecs(b.Operations[0])
	sub, args := workflow.Command(specs[0])
	if got := strings.Join(append(sub, args...), " "); got != "servers create --infra multi_cloud_deployment --provider upcloud --name web-01 --plan 1xCPU-2 GB --zone de-fra1 --wait" {
		t.Fatalf("first server task runs %q", got)
	}
	ts := workflow.TaskSpecs(b.Operations[1])
	if len(ts) != 3 || ts[1].Target != "cilium" || ts[1].Provider != "aws" || !workflow.Sequential(b.Operations[1]) {
		t.Fatalf("taskserv tasks %+v", ts)
	}
}

func TestBatchValidation(t *testing.T) {
	t.Parallel()
	op := func(id, typ string, deps ...string) workflow.OperationRequest {
		o := workflow.OperationRequest{ID: id, Type: typ, Dependencies: deps}
		switch typ {
		case events.OpServerBatch:
			o.ServerConfigs = []map[string]string{{"name": id + "-srv"}}
		case events.OpTaskservBatch:
			o.Taskservs = []string{id + "-ts"}
		case events.OpClusterBatch:
			o.Clusters = []string{id + "-cl"}
		}
		return o
	}
	limit := func(n int) *int { return &n }
	many := func(n int) []workflow.OperationRequest {
		out := make([]workflow.OperationRequest, n)
		for i := range out {
			out[i] = op(fmt.Sprintf("o%d", i), events.OpClusterBatch)
		}
		return out
	}
	bigServers := make([]map[string]string, workflow.MaxTasks+1)
	for i := range bigServers {
		bigServers[i] = map[string]string{"name": fmt.Sprintf("s%d", i)}
	}
	fan := make([]map[string]string, 500)
	for i := range fan {
		fan[i] = map[string]string{"name": fmt.Sprintf("f%d", i)}
	}
	tests := []struct {
		name  string
		req   workflow.BatchRequest
		field string
		msg   string
	}{
		{"no name", workflow.BatchRequest{Operations: many(1)}, "name", "is required"},
		{"no operations", workflow.BatchRequest{Name: "b"}, "operations", "at least one operation"},
		{"too many operations", workflow.BatchRequest{Name: "b", Operations: many(workflow.MaxOperations + 1)}, "operations", "at most 10000"},
		{"too many tasks", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: bigServers}}},
			"operations[0].server_configs", "at most 20000 tasks"},
		{"too many task dependencies", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{
			{ID: "a", Type: events.OpServerBatch, ServerConfigs: fan},
			{ID: "b", Type: events.OpServerBatch, Dependencies: []string{"a"}, ServerConfigs: renamed(fan, "g")}}},
			"operations", "250000 task dependencies"},
		{"parallel_limit zero", workflow.BatchRequest{Name: "b", ParallelLimit: limit(0), Operations: many(1)}, "parallel_limit", "from 1 to 1000, not 0"},
		{"parallel_limit negative", workflow.BatchRequest{Name: "b", ParallelLimit: limit(-3), Operations: many(1)}, "parallel_limit", "not -3"},
		{"parallel_limit too big", workflow.BatchRequest{Name: "b", ParallelLimit: limit(1001), Operations: many(1)}, "parallel_limit", "not 1001"},
		{"storage backend", workflow.BatchRequest{Name: "b", StorageBackend: "postgres", Operations: many(1)}, "storage_backend", "one of jetstream, filesystem, surrealdb"},
		{"empty id", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{op("", events.OpClusterBatch)}}, "operations[0].id", "is required"},
		{"duplicate id", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{op("a", events.OpClusterBatch), op("a", events.OpTaskservBatch)}},
			"operations[1].id", `"a" is already the id of operations[0]`},
		{"unknown type", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: "vm_batch"}}}, "operations[0].type", "must be one of server_batch, taskserv_batch, cluster_batch"},
		{"missing type", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a"}}}, "operations[0].type", "is required"},
		{"unknown dependency", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{op("a", events.OpClusterBatch), op("b", events.OpClusterBatch), op("c", events.OpClusterBatch, "x")}},
			"operations[2].dependencies[0]", `names unknown operation "x"`},
		{"repeated dependency", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{op("a", events.OpClusterBatch), op("b", events.OpClusterBatch, "a", "a")}},
			"operations[1].dependencies[1]", `names "a" twice`},
		{"self dependency", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{op("a", events.OpClusterBatch, "a")}}, "operations", "cycle: a -> a"},
		{"cycle", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{
			op("root", events.OpServerBatch), op("a", events.OpClusterBatch, "root", "c"), op("b", events.OpClusterBatch, "a"), op("c", events.OpClusterBatch, "b")}},
			"operations", "cycle: a -> b -> c -> a"},
		{"servers missing", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch}}}, "operations[0].server_configs", "is required"},
		{"server without name", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"plan": "x"}}}}},
			"operations[0].server_configs[0].name", "is required"},
		{"server unknown key", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"name": "w", "cpu": "4"}}}}},
			"operations[0].server_configs[0].cpu", "is not a server setting"},
		{"server value with a C1 control", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"name": "w", "plan": "1xCPU\u0085-2 GB"}}}}},
			"operations[0].server_configs[0].plan", "control or format characters"},
		{"server value with a bidi override", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"name": "w", "zone": "de-fra1\u202egnp.exe"}}}}},
			"operations[0].server_configs[0].zone", "control or format characters"},
		{"server value with a BOM", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"name": "w", "image": "\ufeffubuntu"}}}}},
			"operations[0].server_configs[0].image", "control or format characters"},
		{"server value with an isolate", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"name": "w", "storage": "25\u2066GB"}}}}},
			"operations[0].server_configs[0].storage", "control or format characters"},
		{"server value not UTF-8", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"name": "w", "hostname": "web\xff"}}}}},
			"operations[0].server_configs[0].hostname", "UTF-8"},
		{"server value like a flag", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"name": "w", "zone": "--rm"}}}}},
			"operations[0].server_configs[0].zone", "must not start with '-'"},
		{"taskservs missing", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpTaskservBatch}}}, "operations[0].taskservs", "is required"},
		{"taskserv bad name", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpTaskservBatch, Taskservs: []string{"k8s", "-x"}}}},
			"operations[0].taskservs[1]", "must start with a letter or digit"},
		{"clusters missing", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpClusterBatch}}}, "operations[0].clusters", "is required"},
		{"field of another type", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpClusterBatch, Clusters: []string{"c"}, Taskservs: []string{"t"}}}},
			"operations[0].taskservs", "is not used by a cluster_batch operation"},
		{"same resource twice", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{
			{ID: "a", Type: events.OpTaskservBatch, Taskservs: []string{"k8s"}}, {ID: "b", Type: events.OpTaskservBatch, Taskservs: []string{"k8s"}}}},
			"operations[1].taskservs[0]", "creates the same resource as operations[0].taskservs[0]"},
		{"bad provider", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpClusterBatch, Clusters: []string{"c"}, Provider: "up cloud"}}},
			"operations[0].provider", "must start with a letter or digit"},
		{"long name", workflow.BatchRequest{Name: strings.Repeat("n", 64), Operations: many(1)}, "name", "longer than 63"},
		{"absolute settings", workflow.BatchRequest{Name: "b", Settings: "/etc/shadow", Operations: many(1)}, "settings", "relative"},
		{"operation settings climbing", workflow.BatchRequest{Name: "b", Operations: []workflow.OperationRequest{{ID: "a", Type: events.OpClusterBatch, Clusters: []string{"c"}, Settings: "x/../../y"}}},
			"operations[0].settings", "'..'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.req.Batch("01B", workflow.Rules{})
			var v *workflow.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			for _, f := range v.Fields {
				if f.Field == tc.field && strings.Contains(f.Message, tc.msg) {
					return
				}
			}
			t.Fatalf("no %s: ...%s... in %v", tc.field, tc.msg, err)
		})
	}
}

func renamed(cfgs []map[string]string, prefix string) []map[string]string {
	out := make([]map[string]string, len(cfgs))
	for i := range cfgs {
		out[i] = map[string]string{"name": fmt.Sprintf("%s%d", prefix, i)}
	}
	return out
}

func TestBatchDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	req := workflow.BatchRequest{Name: "prod", Settings: "base.ncl", Operations: []workflow.OperationRequest{
		{ID: "a", Type: events.OpClusterBatch, Clusters: []string{"buildkit"}},
		{ID: "b", Type: events.OpClusterBatch, Clusters: []string{"buildkit"}, Infra: "staging", Settings: "staging.ncl", Dependencies: []string{"a"}},
	}}
	b, err := req.Batch("01B", workflow.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if b.ParallelLimit != workflow.DefaultParallelLimit || b.StorageBackend != "jetstream" {
		t.Fatalf("defaults: limit %d, backend %q", b.ParallelLimit, b.StorageBackend)
	}
	if a, o := b.Operations[0], b.Operations[1]; a.Infra != "prod" || a.Settings != "base.ncl" || o.Infra != "staging" || o.Settings != "staging.ncl" {
		t.Fatalf("operations %+v", b.Operations)
	}
}

// referenceBatch is the POST /batch/execute example of the API reference,
// as written (shared with the end-to-end test in package app).
func referenceBatch(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/reference_batch.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
