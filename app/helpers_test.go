package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
)

func TestMain(m *testing.M) {
	apptest.SimulatorMain()
	code := m.Run()
	// The binary apptest.Binary built for the tests (the executors run
	// its simulator, the restart test runs it whole) goes with them.
	apptest.RemoveBinary()
	os.Exit(code)
}

// testConfig is an instance on loopback with a fast simulator.
func testConfig(t *testing.T) app.Config {
	cfg := apptest.Config(t)
	cfg.CLI = []string{apptest.Binary(t), "simulate"}
	cfg.SimSpeed = 0.01
	cfg.ShutdownGrace = 5 * time.Second
	cfg.KillGrace = time.Second
	cfg.JobAckWait = 5 * time.Second
	return cfg
}

func startInstance(t *testing.T, cfg app.Config) *app.Instance {
	t.Helper()
	return apptest.Start(t, cfg)
}

// envelope is every answer of the API.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   string          `json:"error"`
}

type client struct {
	t     *testing.T
	base  string
	token string
}

// adminClient is a client of in's orchestrator logged in as the admin.
func adminClient(t *testing.T, in *app.Instance) client {
	t.Helper()
	return client{t, in.OrchestratorURL(), apptest.Login(t, in.ControlURL(), "admin", apptest.AdminPassword)}
}

func (c client) do(method, path string, body any) (int, envelope, http.Header) {
	c.t.Helper()
	api := apptest.NewClient(c.base)
	// No client timeout: a slow answer is waited for, as the tests did
	// before they used apptest.
	api.HTTP = &http.Client{}
	if c.token != "" {
		api = api.WithToken(c.token)
	}
	// Every answer is checked against the API's OpenAPI description
	// (apptest.Client does it); every request declares a JSON body, even
	// an empty one.
	res := api.Do(c.t, method, path, body, "Content-Type", "application/json")
	// Every answer must be an envelope.
	var env envelope
	if err := json.Unmarshal(res.Raw, &env); err != nil {
		c.t.Fatalf("%s %s: answer %d is not an envelope: %s", method, path, res.Status, res.Raw)
	}
	return res.Status, env, res.Header
}

// ok does a request that must succeed and decodes its data into v.
func (c client) ok(method, path string, body, v any) {
	c.t.Helper()
	status, env, _ := c.do(method, path, body)
	if status != http.StatusOK || !env.Success {
		c.t.Fatalf("%s %s: %d %s", method, path, status, env.Error)
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, env.Data, err)
		}
	}
}

// The views as the API shows them, decoded independently of the code
// under test.
type batchAnswer struct {
	BatchID    string `json:"batch_id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Error      *string
	Operations []struct {
		ID       string   `json:"id"`
		Status   string   `json:"status"`
		Progress *float64 `json:"progress"`
		Results  *struct {
			Tasks         []taskResult `json:"tasks"`
			Compensations []taskResult `json:"compensations"`
		} `json:"results"`
	} `json:"operations"`
}

type taskResult struct {
	TaskID *string `json:"task_id"`
	Name   string  `json:"name"`
	Status string  `json:"status"`
	Output *string `json:"output"`
}

type taskAnswer struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Command      string     `json:"command"`
	Args         []string   `json:"args"`
	Dependencies []string   `json:"dependencies"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	CompletedAt  *time.Time `json:"completed_at"`
	Attempts     int        `json:"attempts"`
	BatchID      string     `json:"batch_id"`
	OperationID  string     `json:"operation_id"`
	Compensates  string     `json:"compensates"`
}

func (c client) batch(id string) batchAnswer {
	c.t.Helper()
	var b batchAnswer
	c.ok(http.MethodGet, "/batch/operations/"+id, nil, &b)
	return b
}

// waitBatch waits until the batch has its final status.
func (c client) waitBatch(id string, within time.Duration) batchAnswer {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		// A cluster electing a leader answers 503 for a moment.
		status, env, _ := c.do(http.MethodGet, "/batch/operations/"+id, nil)
		var b batchAnswer
		switch {
		case status == http.StatusServiceUnavailable:
		case status != http.StatusOK:
			c.t.Fatalf("GET /batch/operations/%s: %d %s", id, status, env.Error)
		default:
			if err := json.Unmarshal(env.Data, &b); err != nil {
				c.t.Fatal(err)
			}
			if b.Status != "Running" {
				return b
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("batch %s still Running after %s: %+v", id, within, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c client) batchTasks(id string) []taskAnswer {
	c.t.Helper()
	var tasks []taskAnswer
	c.ok(http.MethodGet, "/tasks?limit=1000&batch_id="+id, nil, &tasks)
	return tasks
}

func (c client) submit(body any) string {
	c.t.Helper()
	var ans struct {
		BatchID string `json:"batch_id"`
	}
	c.ok(http.MethodPost, "/batch/execute", body, &ans)
	return ans.BatchID
}
