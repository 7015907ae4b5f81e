package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"provisioning/projections"
)

// API reads an orchestrator's tasks and batches.
type API struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// get fetches path into v (the data of the envelope), waiting out rate
// limits.
func (a API) get(ctx context.Context, path string, v any) error {
	client := a.HTTP
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(a.Base, "/")+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+a.Token)
		res, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if res.StatusCode == http.StatusTooManyRequests {
			wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
			}
			continue
		}
		var env struct {
			Success bool            `json:"success"`
			Data    json.RawMessage `json:"data"`
			Error   string          `json:"error"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return fmt.Errorf("GET %s: %d, not the API's envelope", path, res.StatusCode)
		}
		if res.StatusCode != http.StatusOK || !env.Success {
			return fmt.Errorf("GET %s: %d %s", path, res.StatusCode, env.Error)
		}
		return json.Unmarshal(env.Data, v)
	}
}

// items reads every page of a list, each item keyed by the field key.
func (a API) items(ctx context.Context, path, key string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for offset := 0; ; offset += 1000 {
		var page []json.RawMessage
		if err := a.get(ctx, path+"?limit=1000&offset="+strconv.Itoa(offset), &page); err != nil {
			return nil, err
		}
		for _, item := range page {
			var id map[string]any
			if err := json.Unmarshal(item, &id); err != nil {
				return nil, err
			}
			s, _ := id[key].(string)
			out[s] = item
		}
		if len(page) < 1000 {
			return out, nil
		}
	}
}

// apiState is what the API shows: every task, every batch in detail.
type apiState struct {
	tasks, batches map[string]json.RawMessage
}

func (a API) read(ctx context.Context) (apiState, error) {
	var s apiState
	var err error
	if s.tasks, err = a.items(ctx, "/tasks", "id"); err != nil {
		return s, err
	}
	list, err := a.items(ctx, "/batch/operations", "batch_id")
	if err != nil {
		return s, err
	}
	s.batches = map[string]json.RawMessage{}
	for id := range list {
		var b json.RawMessage
		if err := a.get(ctx, "/batch/operations/"+url.PathEscape(id), &b); err != nil {
			return s, err
		}
		s.batches[id] = b
	}
	return s, nil
}

// ErrMoving: the stream kept growing while the API was read, so what it
// showed cannot be pinned to one position.
var ErrMoving = errors.New("the event stream kept growing while the API was read; compare when no work runs")

// CompareAPI reads the API's tasks and batches between two equal stream
// positions, folds the stream to that position and compares what the API
// showed with what the rebuilt views show. It returns the differences and
// the position.
//
// v are views already folded from the stream's start up to seq (such as
// Rebuild's); CompareAPI folds only the events after seq into them (it
// changes them). Should the position read be before seq (the stream was
// cut), it rebuilds the views from scratch instead.
func CompareAPI(ctx context.Context, src *Source, api API, v Views, seq uint64) ([]Difference, uint64, error) {
	for range 5 {
		before, err := src.Last(ctx)
		if err != nil {
			return nil, 0, err
		}
		shown, err := api.read(ctx)
		if err != nil {
			return nil, 0, err
		}
		after, err := src.Last(ctx)
		if err != nil {
			return nil, 0, err
		}
		if before != after {
			continue
		}
		switch {
		case before < seq:
			if v, _, err = src.Rebuild(ctx, before); err != nil {
				return nil, 0, err
			}
		case before > seq:
			if _, err = projections.Fold(ctx, src.Store, projections.FoldRange{From: seq + 1, Until: before}, src.timeline, v.projections()...); err != nil {
				return nil, 0, err
			}
		}
		want, err := apiRendering(v)
		if err != nil {
			return nil, 0, err
		}
		diffs := compareJSON("api tasks", want.tasks, shown.tasks)
		diffs = append(diffs, compareJSON("api batches", want.batches, shown.batches)...)
		return diffs, before, nil
	}
	return nil, 0, ErrMoving
}

// apiRendering is what the API should show for views v.
func apiRendering(v Views) (apiState, error) {
	s := apiState{tasks: map[string]json.RawMessage{}, batches: map[string]json.RawMessage{}}
	tasks, _ := v.Tasks.List(projections.TaskFilter{}, 0, int(^uint(0)>>1))
	for _, t := range tasks {
		data, err := json.Marshal(t)
		if err != nil {
			return s, err
		}
		s.tasks[t.ID] = data
	}
	batches, _ := v.Batches.List(projections.BatchFilter{}, 0, int(^uint(0)>>1))
	for _, b := range batches {
		detail, _ := v.Batches.Get(b.BatchID, v.Tasks)
		data, err := json.Marshal(detail)
		if err != nil {
			return s, err
		}
		s.batches[b.BatchID] = data
	}
	return s, nil
}

// compareJSON compares two sets of JSON documents by value.
func compareJSON(view string, replayed, shown map[string]json.RawMessage) []Difference {
	var out []Difference
	keys := sortedKeys(replayed, shown)
	for _, id := range keys {
		a, inA := replayed[id]
		b, inB := shown[id]
		switch {
		case !inB:
			out = append(out, Difference{view, id, "missing in the API"})
		case !inA:
			out = append(out, Difference{view, id, "only in the API, not in the replay"})
		default:
			var va, vb any
			_ = json.Unmarshal(a, &va)
			_ = json.Unmarshal(b, &vb)
			if !reflect.DeepEqual(va, vb) {
				out = append(out, Difference{view, id, fieldDiff(a, b, "replay", "api")})
			}
		}
	}
	return out
}
