package dashboard_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"provisioning/app/apptest"
)

// referenceBatch is the API reference's example batch, as written there.
const referenceBatch = "../workflow/testdata/reference_batch.json"

func TestSubmitReferenceBatchAndWatchItsGraph(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.SimSpeed = 0.05 // about a second a task: the graph is seen moving
	in, _, _ := apptest.StartAdmin(t, cfg)
	body, err := os.ReadFile(referenceBatch)
	if err != nil {
		t.Fatal(err)
	}
	p := openPage(t, in)
	p.signIn("admin", apptest.AdminPassword, "")
	p.open("/submit")
	// Refusals show where they are: a TOML syntax error at its line, the
	// API's 422 at its field path; nothing is created.
	p.setValue("#batch-text", "name = \"x\"\n[[operations]\nid = 1\n")
	p.click("#form-batch button[type=submit]")
	p.until(`document.querySelector('#batch-result').innerText.includes('Not valid TOML (line 2')`, "the TOML error at its line")
	p.setValue("#batch-text", `{"name": "bad", "operations": [{"id": "a", "type": "server_batch", "server_configs": [{"name": "s"}]},
		{"id": "b", "type": "taskserv_batch", "dependencies": ["nope"], "taskservs": ["k"]}]}`)
	p.click("#form-batch button[type=submit]")
	p.until(`document.querySelector('#batch-result .field-errors').innerText.includes('operations[1].dependencies[0]')`, "the 422 at its field path")
	p.setValue("#batch-text", string(body))
	p.click("#form-batch button[type=submit]")
	// The form leads to the batch's graph, every operation there from the
	// start.
	p.until(`location.pathname.startsWith('/ui/batches/') && document.querySelector('main').dataset.graph === 'ready'`, "the batch graph")
	p.until(`document.querySelectorAll('#op-table tbody tr').length === 2`, "both operations in the list")
	p.until(`document.querySelector('main').dataset.status === 'Completed'`, "the batch to complete")
	p.until(`[...document.querySelectorAll('#op-table tbody tr')].every(tr => tr.dataset.status === 'Completed')`, "every operation Completed in the list")
	summary := p.text("#batch-summary")
	if !strings.Contains(summary, "5 of 5 tasks completed") || !strings.Contains(summary, "Completed") {
		t.Errorf("summary: %q", summary)
	}
	// The graph is drawn and answers the keyboard: focus it, move to the
	// dependent operation, select it.
	p.eval(`document.getElementById('graph').focus()`)
	p.until(`document.getElementById('graph-focus').innerText.startsWith('upcloud_servers')`, "the first operation focused")
	p.do("move down", keys("#graph", "ArrowDown"))
	p.until(`document.getElementById('graph-focus').innerText.startsWith('aws_taskservs: Completed')`, "the dependent focused")
	p.do("select", keys("#graph", "Enter"))
	p.until(`document.querySelectorAll('#op-tasks tbody tr').length === 3`, "the three taskservs of aws_taskservs")
	if tasks := p.text("#op-tasks"); !strings.Contains(tasks, "kubernetes") || !strings.Contains(tasks, "containerd") {
		t.Errorf("the operation's tasks: %q", tasks)
	}
	p.shot("batch-graph")
}

func TestCancelRunningBatch(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.SimSpeed = 1 // 15 s a task: the batch is running when cancelled
	in, orch, _ := apptest.StartAdmin(t, cfg)
	ops := []map[string]any{{"id": "servers", "type": "server_batch", "server_configs": []map[string]string{{"name": "web-01"}, {"name": "web-02"}}}}
	var services []string
	for _, name := range []string{"kubernetes", "cilium", "containerd", "coredns", "etcd", "ingress"} {
		ops = append(ops, map[string]any{"id": name, "type": "taskserv_batch", "dependencies": []string{"servers"}, "taskservs": []string{name}})
		services = append(services, name)
	}
	ops = append(ops, map[string]any{"id": "services", "type": "cluster_batch", "dependencies": services, "clusters": []string{"buildkit"}})
	res := orch.Do(t, http.MethodPost, "/batch/execute", map[string]any{"name": "slow", "parallel_limit": 2, "operations": ops})
	if res.Status != http.StatusOK {
		t.Fatalf("submit: %d %s", res.Status, res.Raw)
	}
	var accepted struct {
		BatchID string `json:"batch_id"`
	}
	res.Decode(t, &accepted)
	p := openPage(t, in)
	p.signIn("admin", apptest.AdminPassword, "")
	p.open("/batches/" + accepted.BatchID)
	p.until(`document.querySelector('main').dataset.graph === 'ready'`, "the graph")
	p.until(`document.querySelector('#op-table tr[data-op=servers]').dataset.status === 'Running'`, "the servers running, live")
	p.until(`document.querySelector('#op-table tr[data-op=kubernetes]').dataset.status === 'Pending'`, "the operations waiting, shown from the start")
	p.shot("batch-running")
	p.click("#cancel-batch")
	text := p.confirmDialog()
	if !strings.Contains(text, "SIGTERM") || !strings.Contains(text, "Nothing is rolled back") {
		t.Errorf("the confirmation does not say what will happen: %q", text)
	}
	p.until(`document.querySelector('main').dataset.status === 'Cancelled'`, "the batch cancelled")
	p.until(`document.querySelector('#op-table tr[data-op=services]').dataset.status === 'Skipped'`, "the pending operation skipped")
	if p.eval(`String(!!document.getElementById('cancel-batch'))`) != "false" {
		t.Error("a cancelled batch still offers a cancel")
	}
	got := orch.Do(t, http.MethodGet, "/batch/operations/"+accepted.BatchID, nil)
	if !strings.Contains(string(got.Raw), `"status":"Cancelled"`) {
		t.Fatalf("the API says %s", got.Raw)
	}
}
