package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
)

// binary is the provisioning binary built once for the package's tests:
// the executors run its simulator, and the restart test runs it whole.
var binary string

func TestMain(m *testing.M) {
	apptest.SimulatorMain()
	dir, err := os.MkdirTemp("", "provisioning-app-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "provisioning")
	build := exec.Command("go", "build", "-o", binary, "../cmd/provisioning")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testConfig is an instance on loopback with a fast simulator.
func testConfig(t *testing.T) app.Config {
	cfg := apptest.Config(t)
	cfg.CLI = []string{binary, "simulate"}
	cfg.SimSpeed = 0.01
	cfg.ShutdownGrace = 5 * time.Second
	cfg.KillGrace = time.Second
	cfg.JobAckWait = 5 * time.Second
	return cfg
}

func startInstance(t *testing.T, cfg app.Config) *app.Instance {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in, err := app.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = in.Close(ctx)
	})
	apptest.Describe(t, in)
	return in
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
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// Every answer is checked against the API's OpenAPI description.
	hc := &http.Client{Transport: apptest.Transport(c.t, nil)}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var env envelope
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &env); err != nil {
		c.t.Fatalf("%s %s: answer %d is not an envelope: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, env, resp.Header
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
