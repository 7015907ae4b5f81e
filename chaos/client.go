package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// api calls the orchestrator (and the control center to sign in). It
// signs in again when a token is refused.
type api struct {
	srv  *server
	http *http.Client

	mu    sync.Mutex
	token string
}

type answer struct {
	status int
	header http.Header
	data   json.RawMessage
	err    string
}

// do sends one request. err is set when no answer came (connection
// refused or cut, timeout): the outcome is unknown.
func (a *api) do(ctx context.Context, method, path string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(data)
	}
	base := a.srv.url()
	if strings.HasPrefix(path, "/auth/") {
		base = a.srv.controlURL()
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	a.mu.Lock()
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	a.mu.Unlock()
	res, err := a.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error string          `json:"error"`
	}
	_ = json.Unmarshal(raw, &env)
	return answer{status: res.StatusCode, header: res.Header, data: env.Data, err: env.Error}, nil
}

// login signs in as the admin, retrying while the server is down.
func (a *api) login(ctx context.Context) error {
	for {
		ans, err := a.do(ctx, http.MethodPost, "/auth/login", map[string]string{"username": "admin", "password": a.srv.password})
		if err == nil && ans.status == http.StatusOK {
			var out struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(ans.data, &out); err != nil {
				return err
			}
			a.mu.Lock()
			a.token = out.Token
			a.mu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("login: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// get reads path into v, retrying through restarts and 5xx until ctx
// ends.
func (a *api) get(ctx context.Context, path string, v any) (http.Header, error) {
	for {
		ans, err := a.do(ctx, http.MethodGet, path, nil)
		switch {
		case err == nil && ans.status == http.StatusOK:
			return ans.header, json.Unmarshal(ans.data, v)
		case err == nil && ans.status == http.StatusUnauthorized:
			if err := a.login(ctx); err != nil {
				return nil, err
			}
			continue
		case err == nil && ans.status < 500:
			return ans.header, fmt.Errorf("GET %s: %d %s", path, ans.status, ans.err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("GET %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exists reports whether GET path answers 200 (false on 404).
func (a *api) exists(ctx context.Context, path string) (bool, error) {
	var v json.RawMessage
	_, err := a.get(ctx, path, &v)
	if err != nil && strings.Contains(err.Error(), ": 404 ") {
		return false, nil
	}
	return err == nil, err
}

// task is the part of a task the checks read.
type task struct {
	ID          string   `json:"id"`
	Args        []string `json:"args"`
	Status      string   `json:"status"`
	Attempts    int      `json:"attempts"`
	BatchID     string   `json:"batch_id"`
	Compensates string   `json:"compensates"`
}

// tasks lists every task.
func (a *api) tasks(ctx context.Context) ([]task, error) {
	var all []task
	for offset := 0; ; offset += 1000 {
		var page []task
		if _, err := a.get(ctx, "/tasks?limit=1000&offset="+strconv.Itoa(offset), &page); err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
	}
}
